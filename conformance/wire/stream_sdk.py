"""A scripted SDK deployment that serves streaming exchanges (spec/02 section 2.9) and records them.

:class:`StreamingSdk` is the streaming counterpart of :class:`~conformance.wire.sdk.ScriptedSdk`:
an HTTP/1.1 server of its own (``h11`` over asyncio, on a free loopback port) rather than an ASGI
app, so that the kit sees what an ASGI server hides: whether the request body is chunked, where
its chunks begin and end, when the zero-length chunk arrives, and on which TCP connection each
exchange runs (keep-alive is supported, so connection reuse is visible).

It reads a request body turn by turn (``start`` and the entries it announces), records each turn
as a :class:`StreamReq` (also in ``invokes``, so ``attempts()`` counts turns as attempts), asks
the case's script how to answer, and writes the answer as one chunk while the request body stays
open. Like a correct SDK it ends its response after any terminator but ``suspension`` (unless the
script says otherwise), and after a ``suspension`` it waits, bounded, for the next turn or the end
of the request body. Scripts can also reset the connection, end the response early, or write
data after a terminator, which is how the per-turn failure cases are built.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11

from ..context import CaseContext
from .sdk import CT, MANIFEST_CT, Req, ScriptedSdk, framing_errors, journal_errors, manifest

Json = Any
TERMINATORS = {"end", "suspension", "error", "resume_miss"}
IDLE_S = 30.0  # how long a connection may sit without a byte before the kit drops it


@dataclass
class Exchange:
    """One HTTP request to the deployment and what happened on it."""

    n: int
    conn: int  # the TCP connection it ran on (1, 2, ...)
    method: str
    path: str
    headers: dict[str, str]
    opened_at: float
    turns: list[StreamReq] = field(default_factory=list)
    body_ended_at: float | None = None
    response_ended_at: float | None = None
    reset: bool = False  # the kit reset the connection (a scripted failure)
    violations: list[str] = field(default_factory=list)  # what broke the turn structure (not a start, ...)

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        v = self.headers.get("content-length")
        return int(v) if v is not None and v.isdigit() else None


@dataclass
class StreamReq(Req):
    """One turn of a streaming exchange (an attempt)."""

    exchange: Exchange | None = None
    turn: int = 0  # 0-based within its exchange
    chunks: int = 0  # request-body chunks the turn's bytes spanned
    body_open_at_reply: bool = False  # the request body was still open when the kit wrote the answer
    replied_term: str | None = None  # the terminator of the kit's answer (None: none)
    replied_commands: int = 0  # commands (frames with an index) in the kit's answer


@dataclass
class TurnReply:
    """How the scripted SDK answers one turn."""

    body: bytes = b""  # NDJSON frames, written as one chunk
    delay_s: float = 0.0  # wait before writing
    status: int = 200  # first turn only
    content_type: str | None = CT
    after: str = ""  # "" | "reset": abort the connection | "end": end the response (even after a suspension)
    extra: bytes = b""  # written as another chunk after the answer, extra_delay_s later
    extra_delay_s: float = 0.0
    split_at: int | None = None  # write the answer as two chunks, split at this byte, 0.15 s apart


StreamScript = Callable[[StreamReq], "TurnReply | Awaitable[TurnReply]"]


class _Conn:
    def __init__(self, sdk: StreamingSdk, n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sdk = sdk
        self.n = n
        self.reader = reader
        self.writer = writer
        self.h = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=40 * 1024 * 1024)
        self.buf = bytearray()  # request body bytes not yet taken
        self.marks: list[int] = []  # offsets in buf where a request chunk starts
        self.marks_taken = 0  # request chunks begun in bytes already taken
        self.body_done = False
        self.closed = False

    async def event(self, timeout: float = IDLE_S) -> Any:
        """The next h11 event; ``None`` when nothing came within ``timeout``; ConnectionClosed on errors."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self.h.next_event()
            except h11.RemoteProtocolError:
                self.closed = True
                return h11.ConnectionClosed()
            if ev is not h11.NEED_DATA:
                return ev
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    data = await self.reader.read(65536)
            except TimeoutError:
                return None
            except OSError:
                data = b""
            self.h.receive_data(data)

    def send(self, ev: Any) -> None:
        data = self.h.send(ev)
        if data:
            self.writer.write(data)

    async def more_body(self, exchange: Exchange, timeout: float) -> bool:
        """Read more request body; False when it ended (or the timeout passed)."""
        if self.body_done:
            return False
        ev = await self.event(timeout)
        if ev is None:
            return False
        if isinstance(ev, h11.Data):
            if ev.chunk_start or not exchange.chunked:
                self.marks.append(len(self.buf))
            self.buf += ev.data
            return True
        if isinstance(ev, h11.EndOfMessage):
            self.body_done = True
            exchange.body_ended_at = time.monotonic()
            return False
        self.body_done = True  # ConnectionClosed, PAUSED: the body cannot go on
        self.closed = True
        return False

    async def line(self, exchange: Exchange, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                out = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                self.marks_taken += sum(1 for m in self.marks if m <= nl)
                self.marks = [m - nl - 1 for m in self.marks if m > nl]
                return out
            left = deadline - time.monotonic()
            if left <= 0 or not await self.more_body(exchange, left):
                return None


class StreamingSdk(ScriptedSdk):
    """A scripted deployment serving streaming exchanges; ``scripts`` answer each turn."""

    def __init__(self, ctx: CaseContext, services: list[Json], scripts: dict[str, StreamScript] | None = None,
                 *, protocol_mode: str = "BIDI_STREAM", turn_wait_s: float = 20.0, prefix: str = "/dep") -> None:
        super().__init__(ctx, services, None, manifest_doc=manifest(services, protocolMode=protocol_mode),
                         prefix=prefix)
        self.stream_scripts = scripts or {}
        self.turn_wait_s = turn_wait_s
        self.exchanges: list[Exchange] = []
        self._server: asyncio.Server | None = None
        self._conns: list[_Conn] = []
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StreamingSdk:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _shutdown(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.close()
        for c in self._conns:
            c.writer.transport.abort()  # reads end at once; the handlers return
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=3)
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=3)
        self._server = None

    def turns_of(self, invocation_id: str) -> list[StreamReq]:
        return [r for r in self.invokes if isinstance(r, StreamReq) and r.invocation_id == invocation_id]

    async def turn_attempts(self, invocation_id: str, n: int, timeout: float = 10.0) -> list[StreamReq]:
        await self.attempts(invocation_id, n, timeout)
        return self.turns_of(invocation_id)

    def exchanges_of(self, invocation_id: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.turns and e.turns[0].invocation_id == invocation_id]

    # ------------------------------------------------------------------ serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn = _Conn(self, len(self._conns) + 1, reader, writer)
        self._conns.append(conn)
        try:
            for _ in range(1000):  # requests on one keep-alive connection
                ev = await conn.event()
                if ev is None or not isinstance(ev, h11.Request):
                    return
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ev.headers}
                path = ev.target.decode("latin-1").split("?", 1)[0]
                ex = Exchange(len(self.exchanges), conn.n, ev.method.decode(), path, headers, time.monotonic())
                conn.buf.clear()
                conn.marks.clear()
                conn.body_done = False
                if path.startswith(f"{self.prefix}/invoke/"):
                    self.exchanges.append(ex)
                    await self._invoke(conn, ex)
                else:
                    await self._other(conn, ex)
                self._changed.set()
                if conn.closed or conn.h.our_state is not h11.DONE or conn.h.their_state is not h11.DONE:
                    return
                conn.h.start_next_cycle()
        except (h11.ProtocolError, OSError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:  # shutdown: end quietly (asyncio logs a cancelled connection callback)
            return
        finally:
            self._changed.set()
            writer.close()
            self._handlers.discard(task)

    async def _other(self, conn: _Conn, ex: Exchange) -> None:
        while await conn.more_body(ex, 10):
            pass
        req = Req(ex.method, ex.path, ex.headers, bytes(conn.buf), ex.opened_at)
        if ex.path == f"{self.prefix}/discover":
            self.discovers.append(req)
            body, status, ct = json.dumps(self.manifest_doc).encode(), 200, MANIFEST_CT
        else:
            self.others.append(req)
            body, status, ct = b'{"code":404,"message":"not found"}', 404, "application/json"
        conn.send(h11.Response(status_code=status, headers=[("content-type", ct), ("content-length", str(len(body)))]))
        conn.send(h11.Data(data=body))
        conn.send(h11.EndOfMessage())
        await conn.writer.drain()

    async def _invoke(self, conn: _Conn, ex: Exchange) -> None:
        handler = ex.path[len(self.prefix) + len("/invoke/"):]
        script = self.stream_scripts.get(handler) or self.stream_scripts.get("*")
        started = False
        for turn_no in range(200):
            wait = 10.0 if turn_no == 0 else self.turn_wait_s
            taken0 = conn.marks_taken
            first = await conn.line(ex, wait)
            if first is None:
                if not conn.body_done:
                    ex.violations.append(f"no next turn and no end of the request body within {wait}s")
                break
            raw = first
            frames: list[Json] = []
            errors: list[str] = []
            try:
                frames.append(json.loads(first))
            except ValueError as exc:
                errors.append(f"not JSON: {exc}")
            st = frames[0] if frames and isinstance(frames[0], dict) else {}
            if st.get("type") != "start":
                ex.violations.append(f"turn {turn_no} does not begin with a start message: {first[:200]!r}")
            want = int(st.get("journal_length", 0)) - int(st.get("resume_from", 0)) if st.get("type") == "start" else 0
            for _ in range(max(0, min(want, 100000))):
                line = await conn.line(ex, 10)
                if line is None:
                    errors.append("the request part ended before the entries its start announced (WIRE-REQ-2)")
                    break
                raw += line
                try:
                    frames.append(json.loads(line))
                except ValueError as exc:
                    errors.append(f"not JSON: {exc}")
            if not ex.chunked and not conn.buf:  # a request/response body: take its end, if it is there
                await conn.more_body(ex, 0.2)
            req = StreamReq(ex.method, ex.path, ex.headers, raw, time.monotonic(), exchange=ex, turn=turn_no)
            req.frames = frames
            req.errors = errors + framing_errors(raw) + journal_errors(frames)
            req.chunks = max(1, conn.marks_taken - taken0)
            req.n = sum(1 for r in self.invokes if r.invocation_id == req.invocation_id and r.invocation_id)
            self.invokes.append(req)
            ex.turns.append(req)
            self._changed.set()
            if script is None:
                reply = TurnReply(json.dumps({"type": "output", "index": int(st.get("journal_length", 1)),
                                              "value": None}).encode() + b"\n" + b'{"type":"end"}\n')
            else:
                got = script(req)
                reply = await got if inspect.isawaitable(got) else got
            if reply.delay_s:
                await self._pause(conn, ex, reply.delay_s)
            if not started:
                started = True
                hdrs = [("content-type", reply.content_type)] if reply.content_type else []
                conn.send(h11.Response(status_code=reply.status, headers=hdrs))
                if reply.status != 200:
                    conn.send(h11.Data(data=reply.body))
                    conn.send(h11.EndOfMessage())
                    await conn.writer.drain()
                    ex.response_ended_at = time.monotonic()
                    await self._drain(conn, ex)
                    return
            req.body_open_at_reply = not conn.body_done
            req.replied_at = time.monotonic()
            req.replied_term = _terminator(reply.body)
            req.replied_commands = reply.body.count(b'"index":')
            if reply.split_at is not None and 0 < reply.split_at < len(reply.body):
                conn.send(h11.Data(data=reply.body[: reply.split_at]))
                await conn.writer.drain()
                await asyncio.sleep(0.15)
                conn.send(h11.Data(data=reply.body[reply.split_at:]))
            elif reply.body:
                conn.send(h11.Data(data=reply.body))
            await conn.writer.drain()
            if reply.after == "reset":
                ex.reset = True
                conn.closed = True
                conn.writer.transport.abort()
                return
            if reply.extra:
                if reply.extra_delay_s:
                    await asyncio.sleep(reply.extra_delay_s)
                conn.send(h11.Data(data=reply.extra))
                await conn.writer.drain()
            if reply.after == "end" or _terminator(reply.body) not in ("suspension", None):
                break
            if _terminator(reply.body) is None:  # no terminator: the script ends the response mid-turn
                break
        if conn.h.our_state is h11.SEND_BODY:
            conn.send(h11.EndOfMessage())
            await conn.writer.drain()
        elif not started:
            conn.send(h11.Response(status_code=200, headers=[("content-type", CT)]))
            conn.send(h11.EndOfMessage())
            await conn.writer.drain()
        ex.response_ended_at = time.monotonic()
        await self._drain(conn, ex)

    async def _pause(self, conn: _Conn, ex: Exchange, seconds: float) -> None:
        """Wait ``seconds`` while still noticing the end of the request body."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not conn.body_done and not self._closing.is_set():
            left = deadline - time.monotonic()
            if not conn.buf and not await conn.more_body(ex, max(0.01, left)):
                continue
            await asyncio.sleep(min(0.02, max(0.0, left)))

    async def _drain(self, conn: _Conn, ex: Exchange) -> None:
        """Read the rest of the request body (bounded); the exchange ends when it ends."""
        deadline = time.monotonic() + self.turn_wait_s
        while not conn.body_done and time.monotonic() < deadline:
            if conn.buf:
                ex.violations.append(f"the server wrote {bytes(conn.buf[:200])!r} after the response had ended")
                conn.buf.clear()
            await conn.more_body(ex, max(0.01, deadline - time.monotonic()))
        if conn.buf:
            ex.violations.append(f"the server wrote {bytes(conn.buf[:200])!r} after the response had ended")


def _terminator(body: bytes) -> str | None:
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    if not lines:
        return None
    try:
        last = json.loads(lines[-1])
    except ValueError:
        return None
    t = last.get("type") if isinstance(last, dict) else None
    return str(t) if t in TERMINATORS else None
