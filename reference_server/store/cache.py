"""A bounded in-memory tail of recently committed journal entries.

Every attempt sends the SDK the journal entries it does not hold yet, and those were appended
by the last few commits. Journal entries are immutable once committed, so a store may answer
such reads from memory. The cache is fed by the store *after* a commit has succeeded (never
with queued or in-flight ops), so it only ever holds durable entries.

Per invocation it keeps one contiguous run ``[lo, lo + len(entries))``; a read is served only
if the run covers the whole range, otherwise the caller reads the store. An invocation's run
is dropped when the invocation completes or is deleted; runs are evicted least recently
appended/read first once the cache holds more than ``max_bytes``. Thread-safe: the writer
thread feeds it, the event loop reads it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from .base import AppendJournal, DeleteInvocation, Op, PutInvocation

__all__ = ["ENTRY_OVERHEAD", "JournalCache"]

#: bytes charged per entry on top of its length (list slot, bytes object header)
ENTRY_OVERHEAD = 64
COMPLETED = "completed"


class _Run:
    __slots__ = ("entries", "lo", "size")

    def __init__(self, lo: int) -> None:
        self.lo = lo
        self.entries: list[bytes] = []
        self.size = 0


class JournalCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def committed(self, ops: Iterable[Op]) -> None:
        """Record the effect of ops that are durable now (call only after the commit)."""
        if self.max_bytes <= 0:
            return
        runs = self._runs
        with self._lock:
            for op in ops:
                if isinstance(op, AppendJournal):
                    run = runs.get(op.invocation_id)
                    if run is None or op.index != run.lo + len(run.entries):
                        if run is not None:
                            self.bytes -= run.size
                        run = runs[op.invocation_id] = _Run(op.index)
                    else:
                        runs.move_to_end(op.invocation_id)
                    size = len(op.entry) + ENTRY_OVERHEAD
                    run.entries.append(op.entry)
                    run.size += size
                    self.bytes += size
                elif isinstance(op, DeleteInvocation) or (
                    isinstance(op, PutInvocation) and op.status == COMPLETED
                ):
                    gone = runs.pop(op.id, None)
                    if gone is not None:
                        self.bytes -= gone.size
            while self.bytes > self.max_bytes and runs:
                _, oldest = runs.popitem(last=False)
                self.bytes -= oldest.size

    def get(self, invocation_id: str, start: int, end: int) -> list[bytes] | None:
        """Entries ``start <= index < end`` if all of them are cached, else None."""
        with self._lock:
            run = self._runs.get(invocation_id)
            if run is None or start < run.lo or end > run.lo + len(run.entries):
                self.misses += 1
                return None
            self.hits += 1
            self._runs.move_to_end(invocation_id)
            return run.entries[start - run.lo : end - run.lo]

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self.bytes = 0
