"""WIRE-STREAM-16/17 and JRN-LOG-5: the request head of a new streaming exchange may go out
while the invocation's input is being made durable; its first turn never does.

The store's writer connection is held inside ``COMMIT`` by the test, so "not durable yet" is a
state the test controls, not a timing guess. A scripted SDK peer on 127.0.0.1 records what it
receives and when; the runtime runs in-process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any, cast

import orjson

import reference_sdk
from durable.protocol import encode_frames
from durable.protocol.messages import (
    MANIFEST_CONTENT_TYPE,
    TURN_FOLLOWS_HEADER,
    EndMessage,
    OutputCommand,
    Value,
)
from reference_server.config import ServerConfig
from reference_server.core.effects import SubmitRequest
from reference_server.runtime import Runtime
from reference_server.store.sqlite import SqliteStore, connect

CT = "application/vnd.durable.invocation.v1+ndjson"


class Hold:
    """Holds the writer connection's ``COMMIT`` while ``open`` is clear."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()  # a COMMIT is held
        self.opened = 0

    def connect(self, path: Path) -> sqlite3.Connection:
        self.opened += 1
        conn = connect(path)
        return cast(sqlite3.Connection, _Held(conn, self)) if self.opened == 1 else conn


class _HeldCursor:
    def __init__(self, cur: sqlite3.Cursor, hold: Hold) -> None:
        self._cur, self._hold = cur, hold

    def execute(self, sql: str, args: Any = ()) -> Any:
        if sql == "COMMIT" and not self._hold.open.is_set():
            self._hold.waiting.set()
            assert self._hold.open.wait(30), "the test never released the commit"
            self._hold.waiting.clear()
        return self._cur.execute(sql, args)

    def executemany(self, sql: str, rows: Any) -> Any:
        return self._cur.executemany(sql, rows)


class _Held:
    def __init__(self, conn: sqlite3.Connection, hold: Hold) -> None:
        self._conn, self._hold = conn, hold

    def cursor(self) -> _HeldCursor:
        return _HeldCursor(self._conn.cursor(), self._hold)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _manifest() -> bytes:
    svc = reference_sdk.Service("S")

    @svc.handler()
    async def h(ctx: reference_sdk.Context, n: int) -> int:
        return n

    return cast(bytes, reference_sdk.App([svc])._manifests["BIDI_STREAM"])


class Peer:
    """A streaming SDK endpoint: answers every turn with ``output(n + 1), end``; logs events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.manifest = _manifest()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # bounded by the client: one request per iteration, keep-alive
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
                if lines[0].startswith("GET"):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
                                 % (MANIFEST_CONTENT_TYPE.encode(), len(self.manifest)) + self.manifest)
                    continue
                self.events.append(("head", headers))
                if headers.get(TURN_FOLLOWS_HEADER) == "1":  # WIRE-STREAM-17
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n\r\n" % CT.encode())
                    head_sent = True
                else:
                    head_sent = False
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                turn = await reader.readexactly(size + 2)
                frames = [orjson.loads(x) for x in turn.split(b"\n") if x.strip()]
                self.events.append(("turn", frames[0]))
                n = frames[1]["parameter"]["value"]
                answer = encode_frames([OutputCommand(frames[0]["journal_length"], result=Value(n + 1)), EndMessage()])
                if not head_sent:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n\r\n" % CT.encode())
                writer.write(b"%x\r\n" % len(answer) + answer + b"\r\n")
                assert await reader.readuntil(b"0\r\n\r\n")  # the server ends the request body
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_the_head_goes_out_while_the_input_is_not_durable_and_the_turn_only_after(tmp_path: Path) -> None:
    async def main() -> None:
        peer = Peer()
        server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        hold = Hold()
        store = SqliteStore(tmp_path / "db.sqlite3", connect=hold.connect, inline_max_bytes=0)
        runtime = Runtime(ServerConfig(data_dir=tmp_path), store)
        await runtime.start()
        try:
            await runtime.register(f"http://127.0.0.1:{port}")

            async def call(n: int) -> Any:
                req = SubmitRequest(service="S", handler="h", key=None, parameter={"value": n}, headers={})
                _result, fut = await runtime.submit(req, wait=True)
                assert fut is not None
                return await fut

            # no idle connection yet: head and first turn go out together, no header
            assert await call(1) == {"value": 2}
            assert peer.events[0][0] == "head" and TURN_FOLLOWS_HEADER not in peer.events[0][1]
            del peer.events[:]

            hold.open.clear()  # the next input stays not durable until released
            second = asyncio.ensure_future(call(41))
            for _ in range(500):  # bounded: until the head arrived and the COMMIT is held
                await asyncio.sleep(0.01)
                if peer.events and hold.waiting.is_set():
                    break
            assert hold.waiting.is_set(), "the input commit never started"
            assert [e[0] for e in peer.events] == ["head"], peer.events  # the head, no turn
            assert peer.events[0][1][TURN_FOLLOWS_HEADER] == "1"
            await asyncio.sleep(0.2)
            assert [e[0] for e in peer.events] == ["head"]  # still no turn before durable
            hold.open.set()
            assert await asyncio.wait_for(second, 10) == {"value": 42}
            assert [e[0] for e in peer.events] == ["head", "turn"]
            assert peer.events[1][1]["type"] == "start" and peer.events[1][1]["resume_from"] == 0
        finally:
            hold.open.set()
            await runtime.stop()
            server.close()

    asyncio.run(main())
