"""JournalCache: contiguous runs, eviction on completion/purge, bounded by size."""

from __future__ import annotations

from reference_server.store import base as ops
from reference_server.store.cache import ENTRY_OVERHEAD, JournalCache


def app(inv: str, i: int, size: int = 4) -> ops.AppendJournal:
    return ops.AppendJournal(inv, i, bytes([48 + i % 10]) * size)


def put(inv: str, status: str) -> ops.PutInvocation:
    return ops.PutInvocation(inv, "S", "h", None, status, None, 0, 0, None, b"{}")


def test_serves_only_ranges_it_holds_entirely() -> None:
    c = JournalCache(1 << 20)
    c.committed([app("a", 0), app("a", 1), app("a", 2)])
    assert c.get("a", 0, 3) == [b"0000", b"1111", b"2222"]
    assert c.get("a", 2, 3) == [b"2222"]
    assert c.get("a", 1, 4) is None  # index 3 is not committed
    assert c.get("b", 0, 1) is None
    assert (c.hits, c.misses) == (2, 2)


def test_a_gap_restarts_the_run() -> None:
    c = JournalCache(1 << 20)
    c.committed([app("a", 5), app("a", 6)])  # e.g. after a restart: the tail only
    assert c.get("a", 5, 7) == [b"5555", b"6666"]
    assert c.get("a", 0, 7) is None
    c.committed([app("a", 9)])
    assert c.get("a", 5, 6) is None and c.get("a", 9, 10) == [b"9999"]
    assert c.bytes == 4 + ENTRY_OVERHEAD


def test_completion_and_deletion_evict() -> None:
    c = JournalCache(1 << 20)
    c.committed([app("a", 0), app("b", 0), put("a", "suspended")])
    assert c.get("a", 0, 1) is not None
    c.committed([app("a", 1), put("a", "completed")])
    assert c.get("a", 0, 1) is None
    c.committed([ops.DeleteInvocation("b")])
    assert c.get("b", 0, 1) is None
    assert len(c) == 0 and c.bytes == 0
    c.committed([app("b", 0)])  # the same id again (a workflow run after a purge)
    assert c.get("b", 0, 1) == [b"0000"]


def test_bounded_by_bytes_least_recently_used_first() -> None:
    per = 100 + ENTRY_OVERHEAD
    c = JournalCache(3 * per)
    c.committed([app("a", 0, 100), app("b", 0, 100), app("c", 0, 100)])
    assert c.get("a", 0, 1) is not None  # a is now the most recently used
    c.committed([app("d", 0, 100)])
    assert c.get("b", 0, 1) is None
    assert all(c.get(x, 0, 1) is not None for x in "acd")
    assert c.bytes == 3 * per
    c.committed([app("e", 0, 10 * 100)])  # larger than the whole cache: nothing is kept
    assert len(c) == 0 and c.bytes == 0


def test_disabled() -> None:
    c = JournalCache(0)
    c.committed([app("a", 0)])
    assert c.get("a", 0, 1) is None and c.bytes == 0
