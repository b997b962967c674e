"""SQLite store: WAL, ``synchronous=FULL``, one writing connection with group commit.

Every batch the shell commits is applied in order, in one transaction per group of batches,
and ``COMMIT`` returns only once the WAL is fsync'd (``synchronous=FULL``); only then is the
journal cache fed and are the batches' futures resolved, in queue order. Where the commit
runs depends on the group:

- **On the event loop's thread**, at the next loop iteration, for groups up to
  ``inline_max_bytes`` while the writer thread has nothing in flight: every batch queued in the
  current iteration (all the SDK answers and ingress requests that one poll delivered) shares
  one transaction. The loop waits for the fsync, but it would otherwise hand the group to a
  thread and wait for the wake-up anyway: measured on a 2-core machine, the two hand-offs per
  commit (wake the writer, wake the loop) cost more CPU and latency than the blocked loop
  (one A/B run: p50 -5 % one workflow at a time, +7 % workflows/s at sixteen, server CPU per
  workflow -4 to -8 %; docs/benchmarks.md).
- **Held for a few loop iterations while more batches are on their way.** The shell tells the
  store (:meth:`SqliteStore.expect_more`) whether batches are about to follow, e.g. SDK answers
  it is waiting for. While that is so, the group waits up to ``group_wait_iterations`` more
  loop iterations before it commits, so that what those polls deliver joins the same fsync
  (PostgreSQL's ``commit_delay`` with ``commit_siblings``, counted in loop iterations instead of
  microseconds). One request at a time nothing follows, so nothing waits; under load an
  iteration is long and the group grows: fewer fsyncs per workflow, and a loop that is blocked
  in them less often (A/B runs of SignupWorkflows, docs/benchmarks.md: +4 to +17 % workflows/s
  and -5 to -14 % server CPU per workflow with sixteen in flight, +7 % with four, +12 % with
  eight, within the noise with two). Nothing is acknowledged earlier: futures still resolve
  only after ``COMMIT``.
- **On the writer thread** for larger groups (a big run result must not stall every other
  invocation while it is written) and for every batch queued while the writer is busy, so the
  order of commits stays the order of batches. The thread drains whatever is queued (folded
  into one transaction) and wakes the loop once per group.

Journal reads, listings and sweeps, whose size has no bound, use a second connection on their
own thread, so a long read never delays a commit or the event loop; that thread also drains
its queue and wakes the loop once per group. Journal reads of recently committed entries are
answered from :class:`~.cache.JournalCache` without leaving the event loop. Lookups by key
(invocations by id, promises, a key's state) run on a third connection on the event loop's own
thread: each is a primary-key probe whose rows the loop decodes right after anyway, so a
hand-off to a thread and back (two wake-ups) would cost more than the read. An empty batch is
a barrier: it resolves once every batch queued before it is durable, immediately if none is
in flight.

The SQL is plain (``ON CONFLICT`` upserts, no SQLite-only functions) so that a PostgreSQL
backend can share it. One store serves one event loop at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from .base import (
    AppendJournal,
    ClearState,
    DeleteInvocation,
    DeletePromises,
    DeleteTimer,
    DeleteTimersOf,
    Op,
    PutDeployment,
    PutInvocation,
    PutPromise,
    PutTimer,
    SetState,
    TimerRow,
)
from .cache import JournalCache

log = logging.getLogger("durable.store")
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    handler TEXT NOT NULL,
    key TEXT,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    expires_at INTEGER,
    data BLOB NOT NULL
);
DROP INDEX IF EXISTS invocations_status;
DROP INDEX IF EXISTS invocations_expires;
CREATE INDEX IF NOT EXISTS invocations_status_expires ON invocations (status, expires_at);
CREATE INDEX IF NOT EXISTS invocations_target ON invocations (service, key);
CREATE TABLE IF NOT EXISTS journal (
    invocation_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (invocation_id, idx)
);
CREATE TABLE IF NOT EXISTS state (
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (service, key, name)
);
CREATE TABLE IF NOT EXISTS promises (
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    result BLOB NOT NULL,
    PRIMARY KEY (service, key, name)
);
CREATE TABLE IF NOT EXISTS timers (
    id TEXT PRIMARY KEY,
    due_ms INTEGER NOT NULL,
    invocation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    completion_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_invocation ON timers (invocation_id);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    manifest BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
"""


DEFAULT_JOURNAL_CACHE_BYTES = 32 * 1024 * 1024
#: commit groups up to this size (the bytes of their rows) are written on the loop's thread
DEFAULT_INLINE_MAX_BYTES = 256 * 1024
#: loop iterations a group on the loop's thread may wait for more batches (see expect_more)
DEFAULT_GROUP_WAIT_ITERATIONS = 3
COMPLETED = "completed"


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


_connect = connect  # the older private name
Reader = Callable[[sqlite3.Connection], Any]
_WriteItem = tuple[list[Op], asyncio.Future[None], asyncio.AbstractEventLoop, int]
_ReadItem = tuple[Reader, asyncio.Future[Any], asyncio.AbstractEventLoop]
_InlineItem = tuple[list[Op], asyncio.Future[None], int]


class SqliteStore:
    """``connect`` opens each of the two connections (tests wrap it to observe commits)."""

    def __init__(
        self,
        path: Path,
        *,
        journal_cache_bytes: int = DEFAULT_JOURNAL_CACHE_BYTES,
        inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES,
        group_wait_iterations: int = DEFAULT_GROUP_WAIT_ITERATIONS,
        connect: Callable[[Path], sqlite3.Connection] = connect,
    ) -> None:
        if group_wait_iterations < 0:
            raise ValueError("group_wait_iterations must be >= 0")
        self.path = path
        self.inline_max_bytes = inline_max_bytes
        self.group_wait_iterations = group_wait_iterations
        self._more: Callable[[], bool] = _nothing_more
        self._waited = 0  # iterations the current loop-thread group has waited so far
        self._connect = connect
        self._queue: queue.SimpleQueue[_WriteItem | None] = queue.SimpleQueue()
        self._read_queue: queue.SimpleQueue[_ReadItem | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._lookup: sqlite3.Connection | None = None
        #: the writing connection, used by the writer thread or the loop, never both at once
        self._wconn: sqlite3.Connection | None = None
        self._wlock = threading.Lock()
        self.journal_cache = JournalCache(journal_cache_bytes)
        #: transactions committed (one fsync each) and the non-empty batches folded into them
        self.commits = 0
        self.batches = 0
        #: reads that went to SQLite, and event-loop wake-ups by the writer and reader threads
        self.reads = 0
        self.wakeups = 0
        # event-loop side: non-empty batches queued / resolved so far, barriers waiting
        self._queued = 0
        self._settled = 0
        self._barriers: deque[tuple[int, asyncio.Future[None]]] = deque()
        # the group for the next commit on the loop's thread, and batches the writer thread holds
        self._inline: list[_InlineItem] = []
        self._inline_bytes = 0
        self._flush_handle: asyncio.Handle | None = None
        self._threaded = 0

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wconn = self._connect(self.path)
        wconn.executescript(SCHEMA)
        self._wconn = wconn
        rconn = self._connect(self.path)
        self._lookup = self._connect(self.path)
        self._writer = threading.Thread(
            target=self._write_loop, args=(wconn,), name="durable-writer", daemon=True
        )
        self._reader = threading.Thread(
            target=self._read_loop, args=(rconn,), name="durable-read", daemon=True
        )
        self._writer.start()
        self._reader.start()

    async def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._inline:
            self._flush_now()
        for thread, q in ((self._writer, self._queue), (self._reader, self._read_queue)):
            if thread is not None:
                q.put(None)
                await asyncio.to_thread(thread.join)
        self._writer = self._reader = None
        if self._lookup is not None:
            self._lookup.close()
            self._lookup = None
        self.journal_cache.clear()

    def expect_more(self, more: Callable[[], bool]) -> None:
        """``more()`` is true while further batches are about to be committed (group commit)."""
        self._more = more

    def stats(self) -> dict[str, int]:
        """Counters for benchmarks and tests."""
        return {
            "commits": self.commits,
            "batches": self.batches,
            "reads": self.reads,
            "wakeups": self.wakeups,
            "journal_cache_hits": self.journal_cache.hits,
            "journal_cache_misses": self.journal_cache.misses,
            "journal_cache_bytes": self.journal_cache.bytes,
        }

    # ------------------------------------------------------------------ writes

    def commit(self, ops: list[Op]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not ops:  # a barrier: nothing to write, wait for what is in flight
            if self._settled == self._queued:
                fut.set_result(None)
            else:
                self._barriers.append((self._queued, fut))
            return fut
        self._queued += 1
        size = _size(ops)
        if self._threaded == 0 and self._inline_bytes + size <= self.inline_max_bytes:
            self._inline.append((ops, fut, self._queued))
            self._inline_bytes += size
            if self._flush_handle is None:
                self._flush_handle = loop.call_soon(self._flush)
            return fut
        self._hand_over(loop)  # the batches before this one go first: the order of commits holds
        self._threaded += 1
        self._queue.put((ops, fut, loop, self._queued))
        return fut

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the group waiting for the loop's commit to the writer thread instead."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for ops, fut, n in self._inline:
            self._threaded += 1
            self._queue.put((ops, fut, loop, n))
        self._inline, self._inline_bytes, self._waited = [], 0, 0

    def _flush(self) -> None:
        """On the loop's thread: commit the group queued since the last flush, then resolve it;
        or, while more batches are on their way, wait one more iteration (a bounded number)."""
        self._flush_handle = None
        if self._inline and self._waited < self.group_wait_iterations and self._more():
            self._waited += 1
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            return
        self._flush_now()

    def _flush_now(self) -> None:
        self._waited = 0
        items, self._inline, self._inline_bytes = self._inline, [], 0
        if not items:
            return
        assert self._wconn is not None and self._threaded == 0
        with self._wlock:
            error = self._write(self._wconn.cursor(), items)
        self._settle([fut for _, fut, _ in items], items[-1][2], error)

    def _write(self, cur: sqlite3.Cursor, items: Sequence[tuple[Any, ...]]) -> BaseException | None:
        """Apply the groups' ops (``item[0]``) in one transaction; the error, if it failed."""
        error: BaseException | None = None
        try:
            cur.execute("BEGIN IMMEDIATE")
            _apply_all(cur, list(chain.from_iterable(item[0] for item in items)))
            cur.execute("COMMIT")  # returns once the WAL is fsync'd (synchronous=FULL)
        except BaseException as exc:
            log.exception("commit failed")
            error = exc
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
        else:
            self.commits += 1
            self.journal_cache.committed(chain.from_iterable(item[0] for item in items))
        self.batches += len(items)
        return error

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        cur = conn.cursor()
        running = True
        while running:
            first = self._queue.get()
            if first is None:
                break
            items = [first]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    running = False
                    break
                items.append(nxt)
            with self._wlock:
                error = self._write(cur, items)
            self._wake(items, error)
        conn.close()

    def _wake(self, items: list[_WriteItem], error: BaseException | None) -> None:
        """One wake-up of each event loop concerned (one in practice) for the whole group."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        seq = 0
        for _, fut, loop, n in items:
            by_loop.setdefault(loop, []).append(fut)
            seq = max(seq, n)
        for loop, futs in by_loop.items():
            self.wakeups += 1
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(self._settle_threaded, futs, seq, error)

    def _settle(
        self, futs: list[asyncio.Future[None]], seq: int, error: BaseException | None
    ) -> None:
        """On the event loop: resolve a group's futures, then the barriers it releases."""
        for fut in futs:
            _resolve(fut, error)
        self._settled = max(self._settled, seq)
        while self._barriers and self._barriers[0][0] <= self._settled:
            _resolve(self._barriers.popleft()[1], error)

    def _settle_threaded(
        self, futs: list[asyncio.Future[None]], seq: int, error: BaseException | None
    ) -> None:
        self._threaded -= len(futs)
        self._settle(futs, seq, error)

    # ------------------------------------------------------------------ reads

    def _read_loop(self, conn: sqlite3.Connection) -> None:
        running = True
        while running:
            first = self._read_queue.get()
            if first is None:
                break
            items = [first]
            while True:
                try:
                    nxt = self._read_queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    running = False
                    break
                items.append(nxt)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, bool]]] = {}
            for fn, fut, loop in items:
                if fut.done():  # cancelled meanwhile
                    continue
                try:
                    outcome: tuple[asyncio.Future[Any], Any, bool] = (fut, fn(conn), True)
                except BaseException as exc:  # whatever it is, the reader thread lives on
                    outcome = (fut, exc, False)
                by_loop.setdefault(loop, []).append(outcome)
            self.reads += len(items)
            for loop, outcomes in by_loop.items():
                self.wakeups += 1
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_deliver, outcomes)
        conn.close()

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._read_queue.put((fn, fut, loop))
        return await fut

    async def _rows(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await self._read(lambda conn: conn.execute(sql, args).fetchall())

    def _lookup_rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        """A lookup by key on the event loop's thread (committed rows, like every read)."""
        if self._lookup is None:
            raise sqlite3.ProgrammingError("the store is not open")
        self.reads += 1
        return self._lookup.execute(sql, args).fetchall()

    async def load_active(self) -> list[bytes]:
        # two ranges instead of <>, so that the (status, ...) index serves it
        rows = await self._rows(
            "SELECT data FROM invocations WHERE status < ? OR status > ?", (COMPLETED, COMPLETED)
        )
        return [bytes(r[0]) for r in rows]

    async def load_timers(self) -> list[TimerRow]:
        rows = await self._rows("SELECT id, due_ms, invocation_id, kind, completion_id FROM timers")
        return [TimerRow(*r) for r in rows]

    async def load_deployments(self) -> list[tuple[str, str, bytes, int]]:
        rows = await self._rows(
            "SELECT id, uri, manifest, created_at FROM deployments ORDER BY created_at"
        )
        return [(str(r[0]), str(r[1]), bytes(r[2]), int(r[3])) for r in rows]

    async def get_invocations(self, ids: list[str]) -> dict[str, bytes]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self._lookup_rows(f"SELECT id, data FROM invocations WHERE id IN ({marks})", ids)
        return {str(r[0]): bytes(r[1]) for r in rows}

    async def read_journal(self, invocation_id: str, start: int, end: int) -> list[bytes]:
        if end <= start:
            return []
        cached = self.journal_cache.get(invocation_id, start, end)
        if cached is not None:
            return cached
        rows = await self._rows(
            "SELECT entry FROM journal WHERE invocation_id = ? AND idx >= ? AND idx < ? "
            "ORDER BY idx",
            (invocation_id, start, end),
        )
        return [bytes(r[0]) for r in rows]

    async def read_state(self, service: str, key: str) -> dict[str, bytes]:
        rows = self._lookup_rows(
            "SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name",
            (service, key),
        )
        return {str(r[0]): bytes(r[1]) for r in rows}

    async def get_promises(
        self, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], bytes]:
        if not keys:
            return {}

        out: dict[tuple[str, str, str], bytes] = {}
        for k in keys:
            rows = self._lookup_rows(
                "SELECT result FROM promises WHERE service = ? AND key = ? AND name = ?", k
            )
            if rows:
                out[k] = bytes(rows[0][0])
        return out

    async def list_invocations(
        self, status: str | None, service: str | None, key: str | None, limit: int
    ) -> list[bytes]:
        where, args = [], []
        for column, value in (("status", status), ("service", service), ("key", key)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT data FROM invocations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        rows = await self._rows(sql, (*args, limit))
        return [bytes(r[0]) for r in rows]

    async def expired(self, now_ms: int, limit: int) -> list[tuple[str, str, str, str | None]]:
        # served by the (status, expires_at) index: cost ~ rows returned, not rows retained
        rows = await self._rows(
            "SELECT id, service, handler, key FROM invocations WHERE status = ? "
            "AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
            (COMPLETED, now_ms, limit),
        )
        return [(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3])) for r in rows]


def _nothing_more() -> bool:
    return False


def _deliver(outcomes: list[tuple[asyncio.Future[Any], Any, bool]]) -> None:
    for fut, value, ok in outcomes:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _resolve(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


# One statement per op type (the rest: _apply_other). The sqlite3 module keeps every
# statement prepared (its statement cache is keyed by the SQL text).
_STATEMENTS: dict[type[Any], tuple[str, Callable[[Any], tuple[object, ...]]]] = {
    AppendJournal: (
        "INSERT INTO journal (invocation_id, idx, entry) VALUES (?, ?, ?)",
        lambda op: (op.invocation_id, op.index, op.entry),
    ),
    PutInvocation: (
        "INSERT INTO invocations (id, service, handler, key, status, idempotency_key, "
        "created_at, modified_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
        "modified_at = excluded.modified_at, expires_at = excluded.expires_at, "
        "data = excluded.data",
        lambda op: (
            op.id, op.service, op.handler, op.key, op.status, op.idempotency_key,
            op.created_at, op.modified_at, op.expires_at, op.data,
        ),
    ),
    SetState: (
        "INSERT INTO state (service, key, name, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value",
        lambda op: (op.service, op.key, op.name, op.value),
    ),
    PutPromise: (
        "INSERT INTO promises (service, key, name, result) VALUES (?, ?, ?, ?)",
        lambda op: (op.service, op.key, op.name, op.result),
    ),
    DeletePromises: (
        "DELETE FROM promises WHERE service = ? AND key = ?",
        lambda op: (op.service, op.key),
    ),
    PutTimer: (
        "INSERT INTO timers (id, due_ms, invocation_id, kind, completion_id) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET due_ms = excluded.due_ms",
        lambda op: (op.id, op.due_ms, op.invocation_id, op.kind, op.completion_id),
    ),
    DeleteTimer: ("DELETE FROM timers WHERE id = ?", lambda op: (op.id,)),
    DeleteTimersOf: (
        "DELETE FROM timers WHERE invocation_id = ?",
        lambda op: (op.invocation_id,),
    ),
    PutDeployment: (
        "INSERT INTO deployments (id, uri, manifest, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET manifest = excluded.manifest",
        lambda op: (op.id, op.uri, op.manifest, op.created_at),
    ),
}


_PAYLOAD = {AppendJournal: "entry", PutInvocation: "data", SetState: "value", PutPromise: "result",
            PutDeployment: "manifest"}


def _size(ops: list[Op]) -> int:
    """Roughly the bytes ``ops`` write: their payloads plus a row's worth each."""
    total = 64 * len(ops)
    for op in ops:
        field = _PAYLOAD.get(type(op))
        if field is not None:
            total += len(getattr(op, field))
    return total


def _runs(ops: list[Op]) -> Iterator[list[Op]]:
    """Maximal runs of consecutive ops of one type (order across runs is kept)."""
    i, n = 0, len(ops)
    while i < n:
        ty = type(ops[i])
        j = i + 1
        while j < n and type(ops[j]) is ty:
            j += 1
        yield ops[i:j]
        i = j


def _apply_all(cur: sqlite3.Cursor, ops: list[Op]) -> None:
    """Apply ops in order; a run of same-type ops is one ``executemany``."""
    for run in _runs(ops):
        stmt = _STATEMENTS.get(type(run[0]))
        if stmt is None:
            for op in run:
                _apply_other(cur, op)
        elif len(run) == 1:
            cur.execute(stmt[0], stmt[1](run[0]))
        else:
            cur.executemany(stmt[0], [stmt[1](op) for op in run])


def _apply_other(cur: sqlite3.Cursor, op: Op) -> None:
    if isinstance(op, ClearState):
        if op.name is None:
            cur.execute("DELETE FROM state WHERE service = ? AND key = ?", (op.service, op.key))
        else:
            cur.execute(
                "DELETE FROM state WHERE service = ? AND key = ? AND name = ?",
                (op.service, op.key, op.name),
            )
    elif isinstance(op, DeleteInvocation):
        cur.execute("DELETE FROM journal WHERE invocation_id = ?", (op.id,))
        cur.execute("DELETE FROM timers WHERE invocation_id = ?", (op.id,))
        cur.execute("DELETE FROM invocations WHERE id = ?", (op.id,))
    else:  # pragma: no cover - exhaustive
        raise TypeError(f"unknown op {op!r}")
