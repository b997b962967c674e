"""SQLite store: WAL, ``synchronous=FULL``, one writer thread with group commit.

The writer thread owns the only writing connection. It blocks for the first queued batch,
drains whatever else is queued, applies all of it in one transaction and commits (one fsync
for many batches), then resolves every waiter. Reads use a second connection on their own
thread, so a long journal read never delays a commit. The SQL is plain (``ON CONFLICT``
upserts, no SQLite-only functions) so that a PostgreSQL backend can share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

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
CREATE INDEX IF NOT EXISTS invocations_status ON invocations (status);
CREATE INDEX IF NOT EXISTS invocations_expires ON invocations (expires_at);
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


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


_Item = tuple[list[Op], asyncio.Future[None], asyncio.AbstractEventLoop] | None


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="durable-read")
        self._rconn: sqlite3.Connection | None = None
        self.commits = 0
        self.batches = 0

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wconn = _connect(self.path)
        wconn.executescript(SCHEMA)
        self._writer = threading.Thread(
            target=self._write_loop, args=(wconn,), name="durable-writer", daemon=True
        )
        self._writer.start()
        self._rconn = await self._read(lambda: _connect(self.path))

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._rconn is not None:
            conn = self._rconn
            await self._read(conn.close)
            self._rconn = None
        self._reader.shutdown(wait=True)

    # ------------------------------------------------------------------ writes

    def commit(self, ops: list[Op]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put((ops, fut, loop))
        return fut

    def _write_loop(self, conn: sqlite3.Connection) -> None:
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
            error: BaseException | None = None
            try:
                conn.execute("BEGIN IMMEDIATE")
                for ops, _, _ in items:
                    for op in ops:
                        _apply(conn, op)
                conn.execute("COMMIT")
                self.commits += 1
                self.batches += len(items)
            except BaseException as exc:
                log.exception("commit failed")
                error = exc
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            for _, fut, loop in items:
                loop.call_soon_threadsafe(_resolve, fut, error)
        conn.close()

    # ------------------------------------------------------------------ reads

    async def _read(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn)

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        assert self._rconn is not None
        return self._rconn.execute(sql, args).fetchall()

    async def load_active(self) -> list[bytes]:
        rows = await self._read(
            lambda: self._rows("SELECT data FROM invocations WHERE status <> 'completed'")
        )
        return [bytes(r[0]) for r in rows]  # type: ignore[call-overload]

    async def load_timers(self) -> list[TimerRow]:
        rows = await self._read(
            lambda: self._rows("SELECT id, due_ms, invocation_id, kind, completion_id FROM timers")
        )
        return [TimerRow(*r) for r in rows]  # type: ignore[arg-type]

    async def load_deployments(self) -> list[tuple[str, str, bytes, int]]:
        rows = await self._read(
            lambda: self._rows(
                "SELECT id, uri, manifest, created_at FROM deployments ORDER BY created_at"
            )
        )
        return [(str(r[0]), str(r[1]), bytes(r[2]), int(r[3])) for r in rows]  # type: ignore[call-overload]

    async def get_invocations(self, ids: list[str]) -> dict[str, bytes]:
        if not ids:
            return {}

        def run() -> dict[str, bytes]:
            out: dict[str, bytes] = {}
            for i in ids:
                row = self._rows("SELECT data FROM invocations WHERE id = ?", (i,))
                if row:
                    out[i] = bytes(row[0][0])  # type: ignore[call-overload]
            return out

        return await self._read(run)

    async def read_journal(self, invocation_id: str, start: int, end: int) -> list[bytes]:
        rows = await self._read(
            lambda: self._rows(
                "SELECT entry FROM journal WHERE invocation_id = ? AND idx >= ? AND idx < ? "
                "ORDER BY idx",
                (invocation_id, start, end),
            )
        )
        return [bytes(r[0]) for r in rows]  # type: ignore[call-overload]

    async def read_state(self, service: str, key: str) -> dict[str, bytes]:
        rows = await self._read(
            lambda: self._rows(
                "SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name",
                (service, key),
            )
        )
        return {str(r[0]): bytes(r[1]) for r in rows}  # type: ignore[call-overload]

    async def get_promises(
        self, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], bytes]:
        if not keys:
            return {}

        def run() -> dict[tuple[str, str, str], bytes]:
            out: dict[tuple[str, str, str], bytes] = {}
            for k in keys:
                row = self._rows(
                    "SELECT result FROM promises WHERE service = ? AND key = ? AND name = ?", k
                )
                if row:
                    out[k] = bytes(row[0][0])  # type: ignore[call-overload]
            return out

        return await self._read(run)

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
        rows = await self._read(lambda: self._rows(sql, (*args, limit)))
        return [bytes(r[0]) for r in rows]  # type: ignore[call-overload]

    async def expired(self, now_ms: int, limit: int) -> list[tuple[str, str, str, str | None]]:
        rows = await self._read(
            lambda: self._rows(
                "SELECT id, service, handler, key FROM invocations WHERE status = 'completed' "
                "AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
                (now_ms, limit),
            )
        )
        return [(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3])) for r in rows]


def _resolve(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


def _apply(conn: sqlite3.Connection, op: Op) -> None:
    if isinstance(op, AppendJournal):
        conn.execute(
            "INSERT INTO journal (invocation_id, idx, entry) VALUES (?, ?, ?)",
            (op.invocation_id, op.index, op.entry),
        )
    elif isinstance(op, PutInvocation):
        conn.execute(
            "INSERT INTO invocations (id, service, handler, key, status, idempotency_key, "
            "created_at, modified_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
            "modified_at = excluded.modified_at, expires_at = excluded.expires_at, "
            "data = excluded.data",
            (
                op.id,
                op.service,
                op.handler,
                op.key,
                op.status,
                op.idempotency_key,
                op.created_at,
                op.modified_at,
                op.expires_at,
                op.data,
            ),
        )
    elif isinstance(op, SetState):
        conn.execute(
            "INSERT INTO state (service, key, name, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value",
            (op.service, op.key, op.name, op.value),
        )
    elif isinstance(op, ClearState):
        if op.name is None:
            conn.execute("DELETE FROM state WHERE service = ? AND key = ?", (op.service, op.key))
        else:
            conn.execute(
                "DELETE FROM state WHERE service = ? AND key = ? AND name = ?",
                (op.service, op.key, op.name),
            )
    elif isinstance(op, PutPromise):
        conn.execute(
            "INSERT INTO promises (service, key, name, result) VALUES (?, ?, ?, ?)",
            (op.service, op.key, op.name, op.result),
        )
    elif isinstance(op, DeletePromises):
        conn.execute("DELETE FROM promises WHERE service = ? AND key = ?", (op.service, op.key))
    elif isinstance(op, PutTimer):
        conn.execute(
            "INSERT INTO timers (id, due_ms, invocation_id, kind, completion_id) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET due_ms = excluded.due_ms",
            (op.id, op.due_ms, op.invocation_id, op.kind, op.completion_id),
        )
    elif isinstance(op, DeleteTimer):
        conn.execute("DELETE FROM timers WHERE id = ?", (op.id,))
    elif isinstance(op, DeleteTimersOf):
        conn.execute("DELETE FROM timers WHERE invocation_id = ?", (op.invocation_id,))
    elif isinstance(op, DeleteInvocation):
        conn.execute("DELETE FROM journal WHERE invocation_id = ?", (op.id,))
        conn.execute("DELETE FROM timers WHERE invocation_id = ?", (op.id,))
        conn.execute("DELETE FROM invocations WHERE id = ?", (op.id,))
    elif isinstance(op, PutDeployment):
        conn.execute(
            "INSERT INTO deployments (id, uri, manifest, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET manifest = excluded.manifest",
            (op.id, op.uri, op.manifest, op.created_at),
        )
    else:  # pragma: no cover - exhaustive
        raise TypeError(f"unknown op {op!r}")
