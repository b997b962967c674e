"""SQLite store: group commit, durability across reopen, reads, timers, expiry."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from reference_server.store import base as ops
from reference_server.store.sqlite import SqliteStore


def put(i: int, status: str = "running", expires: int | None = None) -> ops.PutInvocation:
    return ops.PutInvocation(f"inv_{i}", "Svc", "h", None, status, None, i, i, expires, b'{"n":%d}' % i)


def test_group_commit_batches_concurrent_writers(tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        futs = [
            store.commit([put(i), ops.AppendJournal(f"inv_{i}", 0, b"{}")]) for i in range(500)
        ]
        await asyncio.gather(*futs)
        counts = (store.commits, store.batches)
        await store.close()
        return counts

    commits, batches = asyncio.run(main())
    assert batches == 500
    assert commits < 500  # many batches share one transaction (one fsync)
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    assert conn.execute("SELECT count(*) FROM journal").fetchone() == (500,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_reads_see_committed_rows_after_reopen(tmp_path: Path) -> None:
    async def write() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        await store.commit([
            put(1), put(2, "completed", expires=50),
            ops.AppendJournal("inv_1", 0, b'{"a":0}'), ops.AppendJournal("inv_1", 1, b'{"a":1}'),
            ops.SetState("Obj", "k", "x", b'{"value":1}'), ops.SetState("Obj", "k", "y", b'{"value":2}'),
            ops.PutPromise("Wf", "k", "p", b'{"value":"v"}'),
            ops.PutTimer("t1", 99, "inv_1", "sleep", 3),
            ops.PutDeployment("dp_1", "http://x", b"{}", 5),
        ])
        await store.commit([ops.ClearState("Obj", "k", "y"), ops.DeleteTimer("nope")])
        await store.close()

    async def read() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        assert await store.load_active() == [b'{"n":1}']
        assert await store.read_journal("inv_1", 1, 2) == [b'{"a":1}']
        assert await store.read_state("Obj", "k") == {"x": b'{"value":1}'}
        assert await store.get_promises([("Wf", "k", "p"), ("Wf", "k", "q")]) == {("Wf", "k", "p"): b'{"value":"v"}'}
        assert [t.id for t in await store.load_timers()] == ["t1"]
        assert await store.load_deployments() == [("dp_1", "http://x", b"{}", 5)]
        assert await store.get_invocations(["inv_2", "inv_9"]) == {"inv_2": b'{"n":2}'}
        assert await store.expired(100, 10) == [("inv_2", "Svc", "h", None)]
        assert len(await store.list_invocations("completed", "Svc", None, 10)) == 1
        await store.commit([ops.DeleteInvocation("inv_1"), ops.DeletePromises("Wf", "k")])
        assert await store.read_journal("inv_1", 0, 10) == []
        assert await store.load_timers() == []
        assert await store.get_promises([("Wf", "k", "p")]) == {}
        await store.close()

    asyncio.run(write())
    asyncio.run(read())


def test_a_failed_batch_fails_its_waiters_and_rolls_back(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite3")
        await store.open()
        await store.commit([ops.AppendJournal("inv_1", 0, b"{}")])
        try:
            await store.commit([ops.AppendJournal("inv_2", 0, b"{}"), ops.AppendJournal("inv_1", 0, b"{}")])
        except sqlite3.IntegrityError:
            pass
        else:
            raise AssertionError("duplicate journal index accepted")
        assert await store.read_journal("inv_2", 0, 5) == []
        await store.commit([ops.AppendJournal("inv_3", 0, b"{}")])
        assert await store.read_journal("inv_3", 0, 5) == [b"{}"]
        await store.close()

    asyncio.run(main())
