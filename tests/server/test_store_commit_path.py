"""The SQLite store's commit path and read path, observed through a gated connection.

A gate holds the writer thread inside ``COMMIT`` so the tests can look at the store while a
commit is in flight (no sleeps, no timing): futures must not resolve and the journal cache must
not serve anything before ``COMMIT`` has returned; batches queued meanwhile are folded into the
next transaction, resolved with one wake-up of the event loop, in queue order. Those stores
have ``inline_max_bytes=0`` (every group on the writer thread). The commit on the event loop's
thread (small groups) is observed through a connection that records where and when each
``COMMIT`` ran.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from reference_server.store import base as ops
from reference_server.store.sqlite import SqliteStore, connect


class GatedCursor:
    def __init__(self, cur: sqlite3.Cursor, gate: Gate) -> None:
        self._cur = cur
        self._gate = gate

    def execute(self, sql: str, args: Any = ()) -> Any:
        if sql == "COMMIT":
            self._gate.entered.set()
            assert self._gate.release.wait(30), "the test never released the gate"
            self._gate.release.clear()
            out = self._cur.execute(sql, args)
            self._gate.commits_returned += 1
            return out
        return self._cur.execute(sql, args)

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        self._gate.statements.append(("many", sql.split()[0], len(rows)))
        return self._cur.executemany(sql, rows)


class GatedConnection:
    """Wraps the writer's connection (the first one opened); forwards everything else."""

    def __init__(self, conn: sqlite3.Connection, gate: Gate) -> None:
        self._conn = conn
        self._gate = gate

    def cursor(self) -> GatedCursor:
        return GatedCursor(self._conn.cursor(), self._gate)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.commits_returned = 0
        self.statements: list[tuple[str, str, int]] = []
        self.opened = 0

    def connect(self, path: Path) -> sqlite3.Connection:
        self.opened += 1
        conn = connect(path)
        return cast(sqlite3.Connection, GatedConnection(conn, self)) if self.opened == 1 else conn

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30)
        self.entered.clear()


def put(inv: str, status: str = "running") -> ops.PutInvocation:
    return ops.PutInvocation(inv, "Svc", "h", None, status, None, 1, 1, None, b"{}")


def entry(inv: str, i: int) -> ops.AppendJournal:
    return ops.AppendJournal(inv, i, b'{"index":%d}' % i)


class RecordingCursor:
    def __init__(self, cur: sqlite3.Cursor, log: list[tuple[str, int]]) -> None:
        self._cur = cur
        self._log = log

    def execute(self, sql: str, args: Any = ()) -> Any:
        out = self._cur.execute(sql, args)
        if sql == "COMMIT":
            self._log.append(("COMMIT", threading.get_ident()))
        return out

    def executemany(self, sql: str, rows: Any) -> Any:
        return self._cur.executemany(sql, rows)


class RecordingConnection:
    """The writer's connection, logging each ``COMMIT`` (after it returned) and its thread."""

    def __init__(self, conn: sqlite3.Connection, log: list[tuple[str, int]]) -> None:
        self._conn = conn
        self._log = log

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self._conn.cursor(), self._log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def recording(log: list[tuple[str, int]]) -> Any:
    opened: list[int] = []

    def open_(path: Path) -> sqlite3.Connection:
        opened.append(1)
        conn = connect(path)
        return cast(sqlite3.Connection, RecordingConnection(conn, log)) if len(opened) == 1 else conn

    return open_


def test_a_small_group_commits_once_on_the_loop_thread_before_anything_resolves(tmp_path: Path) -> None:
    log: list[tuple[str, int]] = []

    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", connect=recording(log))
        await store.open()
        seen: list[tuple[int, Any]] = []

        def check(_: asyncio.Future[None]) -> None:
            other = sqlite3.connect(tmp_path / "db.sqlite3")
            seen.append((len(log), other.execute("SELECT count(*) FROM journal").fetchone()))
            other.close()

        futs = [store.commit([put(f"inv_{i}"), entry(f"inv_{i}", 0)]) for i in range(3)]
        for f in futs:
            f.add_done_callback(check)
        assert not any(f.done() for f in futs) and log == []  # nothing before the loop's next turn
        barrier = store.commit([])
        assert not barrier.done()
        await asyncio.gather(*futs, barrier)
        assert log == [("COMMIT", threading.get_ident())]  # one transaction, on this thread
        assert seen == [(1, (3,))] * 3  # every waiter woke after COMMIT returned, rows on disk
        assert (store.commits, store.batches, store.wakeups) == (1, 3, 0)
        assert store.journal_cache.get("inv_2", 0, 1) == [b'{"index":0}']
        await store.close()

    asyncio.run(main())


def test_a_large_group_goes_to_the_writer_thread_and_order_holds(tmp_path: Path) -> None:
    log: list[tuple[str, int]] = []

    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", connect=recording(log), inline_max_bytes=1000)
        await store.open()
        order: list[str] = []
        small = store.commit([put("inv_a"), entry("inv_a", 0)])
        big = store.commit([ops.AppendJournal("inv_b", 0, b"x" * 5000)])
        after = store.commit([entry("inv_a", 1)])  # the writer is busy: behind it, not inline
        for name, fut in (("small", small), ("big", big), ("after", after)):
            fut.add_done_callback(lambda _, n=name: order.append(n))  # type: ignore[misc]
        await asyncio.gather(small, big, after)
        assert order == ["small", "big", "after"]
        loop_thread = threading.get_ident()
        assert log and all(thread != loop_thread for _, thread in log)
        assert await store.read_journal("inv_a", 0, 2) == [b'{"index":0}', b'{"index":1}']
        del log[:]
        await store.commit([entry("inv_a", 2)])  # the writer is idle again: back on the loop
        assert log == [("COMMIT", loop_thread)]
        await store.close()

    asyncio.run(main())


def test_a_failed_group_on_the_loop_thread_fails_its_waiters_and_barrier(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        await store.commit([entry("inv_1", 0)])
        good = store.commit([entry("inv_2", 0)])  # shares the failing transaction: rolled back too
        bad = store.commit([entry("inv_1", 0)])
        barrier = store.commit([])
        for fut in (good, bad, barrier):
            with pytest.raises(sqlite3.IntegrityError):
                await fut
        assert await store.read_journal("inv_2", 0, 1) == []
        await store.commit([entry("inv_2", 0)])
        assert await store.read_journal("inv_2", 0, 1) == [b'{"index":0}']
        await store.close()

    asyncio.run(main())


async def waiting_store(tmp_path: Path, wait: int, more: bool, **options: Any) -> SqliteStore:
    """An open store whose group-commit hint always says ``more``."""
    store = SqliteStore(tmp_path / "db.sqlite3", group_wait_iterations=wait, **options)
    store.expect_more(lambda: more)
    await store.open()
    return store


@pytest.mark.parametrize("waiting", [False, True])
def test_close_commits_a_group_still_waiting(tmp_path: Path, waiting: bool) -> None:
    """For the loop's next iteration, or (group commit) for more batches: close commits it."""

    async def main() -> None:
        store = await waiting_store(tmp_path, 1000, waiting)
        fut = store.commit([put("inv_1"), entry("inv_1", 0)])
        if waiting:
            await asyncio.sleep(0)
            assert not fut.done()
        await store.close()
        assert fut.done() and fut.exception() is None

    asyncio.run(main())
    other = sqlite3.connect(tmp_path / "db.sqlite3")
    assert other.execute("SELECT count(*) FROM journal").fetchone() == (1,)
    other.close()


def test_while_more_is_expected_a_group_waits_a_few_iterations_for_it(tmp_path: Path) -> None:
    """Group commit: batches queued in the next iterations join the waiting group (one COMMIT);
    nothing resolves before that COMMIT."""
    log: list[tuple[str, int]] = []

    async def main() -> None:
        store = await waiting_store(tmp_path, 3, True, connect=recording(log))
        futs = []
        for i in range(3):  # one batch per loop iteration
            futs.append(store.commit([put(f"inv_{i}"), entry(f"inv_{i}", 0)]))
            await asyncio.sleep(0)
            assert log == [] and not any(f.done() for f in futs)
        await asyncio.gather(*futs)
        assert log == [("COMMIT", threading.get_ident())]
        assert (store.commits, store.batches) == (1, 3)
        await store.close()

    asyncio.run(main())


def test_the_wait_is_bounded_even_if_more_is_always_expected(tmp_path: Path) -> None:
    async def main() -> None:
        store = await waiting_store(tmp_path, 3, True)
        fut = store.commit([entry("inv_1", 0)])
        iterations = 0
        while not fut.done():
            assert iterations < 10, "the group kept waiting"
            await asyncio.sleep(0)
            iterations += 1
        assert fut.exception() is None and store.commits == 1
        assert iterations <= 3 + 2  # the next iteration, plus at most three more, plus our wake-up
        await store.close()

    asyncio.run(main())


@pytest.mark.parametrize("wait", [0, 3])
def test_nothing_waits_when_nothing_more_is_expected_or_waiting_is_off(tmp_path: Path, wait: int) -> None:
    async def main() -> None:
        store = await waiting_store(tmp_path, wait, wait == 0)  # waiting off: the hint does not matter
        fut = store.commit([entry("inv_1", 0)])
        await asyncio.sleep(0)  # the loop's next iteration commits it
        await asyncio.sleep(0)
        assert fut.done() and store.commits == 1
        await store.close()

    asyncio.run(main())


def test_a_negative_group_wait_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="group_wait_iterations"):
        SqliteStore(tmp_path / "db.sqlite3", group_wait_iterations=-1)


def test_the_store_connection_is_wal_with_synchronous_full(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL: fsync at every commit
    conn.close()


def test_futures_resolve_only_after_commit_returned(tmp_path: Path) -> None:
    gate = Gate()

    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", connect=gate.connect, inline_max_bytes=0)
        await store.open()
        seen_at_resolution: list[tuple[int, list[bytes] | None, Any]] = []

        def check(_: asyncio.Future[None]) -> None:
            # what a waiter woken by this commit can observe: the data is in the database file
            other = sqlite3.connect(tmp_path / "db.sqlite3")
            rows = other.execute("SELECT count(*) FROM journal").fetchone()
            other.close()
            seen_at_resolution.append(
                (gate.commits_returned, store.journal_cache.get("inv_1", 0, 2), rows)
            )

        fut = store.commit([put("inv_1"), entry("inv_1", 0), entry("inv_1", 1)])
        fut.add_done_callback(check)
        await gate.wait_entered()
        # the writer is inside COMMIT: nothing may be acknowledged or served from the cache yet
        for _ in range(20):
            await asyncio.sleep(0)
        assert not fut.done()
        assert store.journal_cache.get("inv_1", 0, 2) is None
        assert await store.read_journal("inv_1", 0, 2) == []  # the reader sees committed rows only
        gate.release.set()
        await fut
        assert seen_at_resolution == [(1, [b'{"index":0}', b'{"index":1}'], (2,))]
        # served from memory now, without a read on the reader thread
        reads = store.reads
        assert await store.read_journal("inv_1", 0, 2) == [b'{"index":0}', b'{"index":1}']
        assert await store.read_journal("inv_1", 1, 2) == [b'{"index":1}']
        assert store.reads == reads
        gate.release.set()  # close() commits nothing, but do not leave the gate shut
        await store.close()

    asyncio.run(main())


def test_batches_queued_during_a_commit_share_the_next_one_and_one_wakeup(tmp_path: Path) -> None:
    gate = Gate()

    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", connect=gate.connect, inline_max_bytes=0)
        await store.open()
        order: list[int] = []
        first = store.commit([put("inv_0")])
        first.add_done_callback(lambda _: order.append(0))
        await gate.wait_entered()
        later = []
        for i in range(1, 11):
            fut = store.commit([put(f"inv_{i}"), entry(f"inv_{i}", 0), entry(f"inv_{i}", 1)])
            fut.add_done_callback(lambda _, n=i: order.append(n))  # type: ignore[misc]
            later.append(fut)
        barrier = store.commit([])
        assert not barrier.done()
        barrier.add_done_callback(lambda _: order.append(99))
        gate.release.set()
        await first
        await gate.wait_entered()
        assert not barrier.done() and not any(f.done() for f in later)
        gate.release.set()
        await barrier
        assert order == [*range(11), 99]
        assert (store.commits, store.batches, store.wakeups) == (2, 11, 2)
        # the second transaction: each batch's two appends went in one executemany
        assert gate.statements == [("many", "INSERT", 2)] * 10
        await store.close()

    asyncio.run(main())


def test_an_empty_commit_is_an_immediate_barrier_when_nothing_is_in_flight(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        assert store.commit([]).done()
        await store.commit([put("inv_1")])
        assert store.commit([]).done()
        assert (store.commits, store.batches) == (1, 1)
        await store.close()

    asyncio.run(main())


def test_a_barrier_behind_a_failed_batch_fails(tmp_path: Path) -> None:
    gate = Gate()

    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", connect=gate.connect, inline_max_bytes=0)
        await store.open()
        gate.release.set()
        await store.commit([entry("inv_1", 0)])
        bad = store.commit([entry("inv_1", 0)])  # duplicate index: the transaction fails
        barrier = store.commit([])
        with pytest.raises(sqlite3.IntegrityError):
            await bad
        with pytest.raises(sqlite3.IntegrityError):
            await barrier
        assert store.journal_cache.get("inv_1", 0, 1) == [b'{"index":0}']
        await store.close()

    asyncio.run(main())


def test_a_failed_commit_never_reaches_the_cache(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        await store.commit([entry("inv_1", 0)])
        with pytest.raises(sqlite3.IntegrityError):
            await store.commit([entry("inv_2", 0), entry("inv_2", 1), entry("inv_1", 0)])
        assert store.journal_cache.get("inv_2", 0, 2) is None
        assert await store.read_journal("inv_2", 0, 2) == []
        await store.close()

    asyncio.run(main())


def test_purge_and_completion_evict_and_a_rerun_with_the_same_id_is_served_fresh(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        await store.commit([put("wf"), entry("wf", 0), entry("wf", 1)])
        assert store.journal_cache.get("wf", 0, 2) is not None
        # completed: the run is dropped (reads go to SQLite, which still has the entries)
        await store.commit([entry("wf", 2), put("wf", "completed")])
        assert store.journal_cache.get("wf", 0, 1) is None
        assert await store.read_journal("wf", 0, 3) == [b'{"index":%d}' % i for i in range(3)]
        # purge and a new run under the same (deterministic) id, in one group of ops
        await store.commit([
            ops.DeleteInvocation("wf"),
            put("wf"),
            ops.AppendJournal("wf", 0, b'{"new":0}'),
        ])
        assert await store.read_journal("wf", 0, 1) == [b'{"new":0}']
        assert store.journal_cache.get("wf", 0, 1) == [b'{"new":0}']
        assert await store.read_journal("wf", 0, 3) == [b'{"new":0}']  # SQLite agrees
        await store.close()

    asyncio.run(main())


def test_reads_queued_meanwhile_are_answered_with_one_wakeup(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", journal_cache_bytes=0)
        await store.open()
        await store.commit([*(put(f"inv_{i}") for i in range(20)), *(entry(f"inv_{i}", 0) for i in range(20))])
        hold = threading.Event()
        blocker = asyncio.ensure_future(store._read(lambda conn: hold.wait(30)))
        reads: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(store.read_journal(f"inv_{i}", 0, 1)) for i in range(20)
        ]
        reads.append(asyncio.ensure_future(store.list_invocations("running", "Svc", None, 100)))
        cancelled = asyncio.ensure_future(store.read_journal("inv_3", 0, 1))
        for _ in range(100):  # let every task queue its read
            if store._read_queue.qsize() >= 22:
                break
            await asyncio.sleep(0)
        cancelled.cancel()
        wakeups = store.wakeups
        hold.set()
        assert await blocker is True
        got = await asyncio.gather(*reads)
        assert got[:20] == [[b'{"index":0}'] for _ in range(20)]  # the cache is off: read from SQLite
        assert len(got[20]) == 20
        assert store.wakeups - wakeups <= 2  # the blocker's group, then all the others at once
        assert cancelled.cancelled()
        await store.close()

    asyncio.run(main())


def test_lookups_by_key_do_not_wait_for_the_reader_thread(tmp_path: Path) -> None:
    """Invocations by id, promises and a key's state are read on the loop's own thread: a long
    read on the reader thread does not delay them, and they see committed rows only."""
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3", journal_cache_bytes=0)
        await store.open()
        await store.commit([
            put("inv_1"),
            ops.SetState("Svc", "k", "a", b"1"),
            ops.PutPromise("Svc", "k", "p", b'{"value":1}'),
        ])
        hold = threading.Event()
        blocker = asyncio.ensure_future(store._read(lambda conn: hold.wait(30)))
        for _ in range(100):
            if store._read_queue.qsize() == 0 and not blocker.done():
                break
            await asyncio.sleep(0)
        assert await store.get_invocations(["inv_1", "nope"]) == {"inv_1": b"{}"}
        assert await store.read_state("Svc", "k") == {"a": b"1"}
        assert await store.get_promises([("Svc", "k", "p"), ("Svc", "k", "q")]) == {("Svc", "k", "p"): b'{"value":1}'}
        assert await store.get_invocations([]) == {}
        assert not blocker.done()  # all of that while the reader thread was still held
        hold.set()
        assert await blocker is True
        await store.close()

    asyncio.run(main())


def test_the_retention_sweep_is_an_index_range_not_a_scan(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    old = sqlite3.connect(path)  # a database made by the previous schema
    old.executescript(
        "CREATE TABLE invocations (id TEXT PRIMARY KEY, service TEXT NOT NULL, handler TEXT NOT NULL,"
        " key TEXT, status TEXT NOT NULL, idempotency_key TEXT, created_at INTEGER NOT NULL,"
        " modified_at INTEGER NOT NULL, expires_at INTEGER, data BLOB NOT NULL);"
        "CREATE INDEX invocations_status ON invocations (status);"
        "CREATE INDEX invocations_expires ON invocations (expires_at);"
    )
    old.close()

    async def main() -> None:
        store = SqliteStore(path)
        await store.open()
        await store.commit([put("a"), ops.PutInvocation("b", "S", "h", None, "completed", None, 1, 1, 5, b"{}")])
        assert await store.expired(10, 10) == [("b", "S", "h", None)]
        assert await store.load_active() == [b"{}"]
        await store.close()

    asyncio.run(main())
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "invocations_status_expires" in names and not names & {"invocations_status", "invocations_expires"}
    plan = " ".join(
        str(r[-1])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM invocations WHERE status = ? "
            "AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
            ("completed", 1, 1),
        )
    )
    assert "invocations_status_expires (status=? AND expires_at" in plan
    conn.close()
