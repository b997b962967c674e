"""A full-duplex HTTP/1.1 exchange with an SDK endpoint: the kit plays a streaming server.

httpx cannot write a request body while it reads the response, so the streaming cases of the
SDK half (spec/02 section 2.9, WIRE-STREAM-*) speak HTTP/1.1 themselves: ``h11`` frames the
request (``transfer-encoding: chunked``, one chunk per turn) and parses the response as it
arrives, on a plain asyncio connection to the endpoint (loopback in the kit's own runs). Every
read is bounded in time; every response frame is checked as in :meth:`SdkContext.invoke`
(schemas, nulls, no server-only messages), and the response chunks are kept so that a case can
tell how a turn's response was written (WIRE-STREAM-15).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h11
import orjson

from durable.protocol.messages import invocation_content_type

from ..model import WireEntry

if TYPE_CHECKING:
    from .driver import SdkContext

TERMINATORS = {"end", "suspension", "error", "resume_miss"}
MAX_BUFFER = 40 * 1024 * 1024


@dataclass
class Turn:
    """One turn's response as the kit read it."""

    frames: list[dict[str, Any]]
    chunks: int  # response chunks this turn's frames arrived in
    elapsed_s: float  # from the end of the kit's write of the turn to the terminator

    @property
    def types(self) -> list[str]:
        return [str(f.get("type")) for f in self.frames]

    @property
    def terminator(self) -> dict[str, Any]:
        return self.frames[-1] if self.frames else {}

    @property
    def commands(self) -> list[dict[str, Any]]:
        from .driver import COMMANDS

        return [f for f in self.frames if f.get("type") in COMMANDS]

    @property
    def proposals(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "propose_run_completion"]

    def command(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.commands if c["type"] == type_), None)


@dataclass
class Session:
    """The kit's view of one invocation over a stream: the journal and the last attempt."""

    service: str
    handler: str
    key: str | None
    invocation_id: str = field(default_factory=lambda: f"inv_{uuid.uuid4().hex}")
    journal: list[dict[str, Any]] = field(default_factory=list)
    attempt_id: str = ""
    sdk_length: int = 0  # the journal length the SDK had when its last turn ended

    def start(self, *, resume: bool, attempt_id: str | None = None, resume_attempt_id: str | None = None,
              resume_from: int | None = None, invocation_id: str | None = None) -> tuple[dict[str, Any], list[bytes]]:
        """The next turn's ``start`` and entries: a warm resume of the last attempt or the full journal."""
        aid = attempt_id or uuid.uuid4().hex[:12]
        rf = (self.sdk_length if resume_from is None else resume_from) if resume else 0
        st: dict[str, Any] = {
            "type": "start", "invocation_id": invocation_id or self.invocation_id, "service": self.service,
            "handler": self.handler, "attempt_id": aid, "journal_length": len(self.journal), "resume_from": rf,
            "random_seed": 7, "retry_count": 0, "retry_duration_ms": 0,
        }
        if self.key is not None:
            st["key"] = self.key
            if rf == 0:
                st["state"] = {}
        if rf > 0:
            st["resume_attempt_id"] = resume_attempt_id if resume_attempt_id is not None else self.attempt_id
        self.attempt_id = aid
        entries = [orjson.dumps({**e, "index": i}) for i, e in enumerate(self.journal)][rf:]
        return st, entries

    def absorb(self, turn: Turn) -> None:
        """Append the turn's commands, then its proposals as completions (as a server would)."""
        from .driver import result_of

        for c in turn.commands:
            self.journal.append({k: v for k, v in c.items() if k != "index"})
        self.sdk_length = len(self.journal)
        for p in turn.proposals:
            self.journal.append({"type": "completion", "completion_id": p["completion_id"], **result_of(p)})


class DuplexStream:
    """One invoke request whose body the kit writes turn by turn while it reads the response."""

    def __init__(self, ctx: SdkContext, service: str, handler: str, *, content_type: str | None = None,
                 extra_headers: dict[str, str] | None = None) -> None:
        self.ctx = ctx
        self.extra_headers = dict(extra_headers or {})
        self.url = f"{ctx.endpoint}/invoke/{service}/{handler}"
        self.content_type = content_type or invocation_content_type()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._h11 = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=MAX_BUFFER)
        self._buf = bytearray()  # response body bytes not yet taken as frames
        self._chunk_marks: list[int] = []  # offsets in _buf where a new response chunk starts
        self.status = 0
        self.headers: dict[str, str] = {}
        self.response_ended = False
        self.connection_closed = False
        self.body_ended = False
        self.ended_at = 0.0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sent: list[bytes] = []
        self._received: list[bytes] = []
        self.entry = WireEntry("POST", self.url, {}, "")
        self._opened = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DuplexStream:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        try:
            async with asyncio.timeout(5):
                self._reader, self._writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise self.ctx.fail(f"cannot connect to {host}:{port}: {exc!r}") from exc
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = [("host", parts.netloc), ("content-type", self.content_type), ("accept", self.content_type),
                   ("transfer-encoding", "chunked"), *self.extra_headers.items()]
        self.entry.request_headers = dict(headers)
        self.ctx.wire.entries.append(self.entry)
        self._opened = time.monotonic()
        self._send(self._h11.send(h11.Request(method="POST", target=target, headers=headers)))
        self._task = asyncio.create_task(self._read_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
            self._writer = None
        self.entry.request_body = _text(b"".join(self._sent))
        self.entry.response_body = _text(b"".join(self._received))
        self.entry.status = self.status or None
        self.entry.response_headers = dict(self.headers)
        self.entry.elapsed_ms = (time.monotonic() - self._opened) * 1000

    def _send(self, data: bytes | None) -> None:
        if data and self._writer is not None:
            self._writer.write(data)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                data = await self._reader.read(65536)
                self._h11.receive_data(data)
                self._pump()
                if not data:
                    self.connection_closed = True
                    self._changed.set()
                    return
        except (OSError, h11.RemoteProtocolError) as exc:
            self.connection_closed = True
            self.headers.setdefault("x-kit-error", repr(exc))
            self._changed.set()

    def _pump(self) -> None:
        while True:
            ev = self._h11.next_event()
            if ev is h11.NEED_DATA or ev is h11.PAUSED:
                return
            if isinstance(ev, h11.InformationalResponse):
                continue
            if isinstance(ev, h11.Response):
                self.status = ev.status_code
                self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ev.headers}
            elif isinstance(ev, h11.Data):
                if ev.chunk_start:
                    self._chunk_marks.append(len(self._buf))
                self._buf += ev.data
                self._received.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                self.response_ended = True
                self.ended_at = time.monotonic()
            elif isinstance(ev, h11.ConnectionClosed):
                self.connection_closed = True
            self._changed.set()
            if isinstance(ev, h11.EndOfMessage | h11.ConnectionClosed):
                return

    # ------------------------------------------------------------------ writing

    async def write_raw(self, data: bytes) -> None:
        """One chunk of request body."""
        if self.body_ended:
            raise self.ctx.fail("internal: the kit wrote after ending the request body")
        self._sent.append(data)
        with contextlib.suppress(h11.LocalProtocolError):
            self._send(self._h11.send(h11.Data(data=data)))
        if self._writer is not None:
            with contextlib.suppress(OSError):
                await self._writer.drain()

    async def write_turn(self, start: dict[str, Any], entries: list[bytes]) -> float:
        """A turn's request part as one chunk; first checks that nothing arrived since the last terminator."""
        self.ctx.must(not self._buf, f"the SDK wrote {bytes(self._buf[:200])!r} after a turn's terminator, before the "
                                     "next start (WIRE-STREAM-9)")
        await self.write_raw(orjson.dumps(start) + b"\n" + b"".join(e + b"\n" for e in entries))
        return time.monotonic()

    async def end_body(self) -> None:
        """The zero-length chunk: the end of the request body."""
        if self.body_ended:
            return
        self.body_ended = True
        self._sent.append(b"<end of body>")
        with contextlib.suppress(h11.LocalProtocolError):
            self._send(self._h11.send(h11.EndOfMessage()))
        if self._writer is not None:
            with contextlib.suppress(OSError):
                await self._writer.drain()

    # ------------------------------------------------------------------ reading

    async def _wait(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        return True

    async def response_start(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not self.status and not self.connection_closed:
            if not await self._wait(deadline):
                raise self.ctx.fail(f"no response status within {timeout}s while the request body is open "
                                    "(WIRE-STREAM-8)")
        self.ctx.must(self.status, f"the connection closed before a response ({self.headers.get('x-kit-error', '')})")
        return self.status

    async def read_turn(self, timeout: float, written_at: float | None = None) -> Turn:
        """Frames up to and including the next terminator; fails on a bad frame or a timeout."""
        from .driver import check_frame

        began = written_at or time.monotonic()
        deadline = time.monotonic() + timeout
        await self.response_start(timeout)
        self.ctx.must_eq(self.status, 200, f"status of the streaming exchange ({bytes(self._buf[:300])!r})")
        self.ctx.must(self.headers.get("content-type", "").lower().startswith(self.content_type.lower()),
                      f"content-type of the response: {self.headers.get('content-type')!r} (WIRE-NEG-3)")
        frames: list[dict[str, Any]] = []
        pos = 0
        while True:
            nl = self._buf.find(b"\n", pos)
            if nl >= 0:
                line = bytes(self._buf[pos:nl])
                pos = nl + 1
                frames.append(check_frame(self.ctx, line, len(frames) + 1))
                if frames[-1].get("type") in TERMINATORS:
                    break
                continue
            if self.response_ended or self.connection_closed:
                raise self.ctx.fail(f"the response ended after {[f.get('type') for f in frames]} without a terminator"
                                   + (f" and {bytes(self._buf[pos:pos + 200])!r}" if pos < len(self._buf) else ""))
            if not await self._wait(deadline):
                raise self.ctx.fail(f"no terminator within {timeout}s (frames so far: {[f.get('type') for f in frames]}; "
                                    f"request body {'ended' if self.body_ended else 'open'})")
        chunks = 1 + sum(1 for m in self._chunk_marks if 0 < m < pos)
        rest = bytes(self._buf[pos:])
        del self._buf[:pos]
        self._chunk_marks = [m - pos for m in self._chunk_marks if m >= pos]
        self.ctx.must(not rest, f"the SDK wrote {rest[:200]!r} right after the {frames[-1].get('type')} terminator "
                                "(WIRE-RESP-1, WIRE-STREAM-9)")
        return Turn(frames, chunks, time.monotonic() - began)

    async def read_end(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the end of the response; True if it ended with nothing more written."""
        deadline = time.monotonic() + timeout
        while not (self.response_ended or self.connection_closed):
            if not await self._wait(deadline):
                return False
        self.ctx.must(not self._buf, f"the SDK wrote {bytes(self._buf[:200])!r} before ending the response (WIRE-STREAM-9)")
        return True

    async def quiet(self, duration: float) -> bytes:
        """What the SDK writes within ``duration`` (nothing, if it behaves)."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and not self._buf and not self.response_ended:
            await self._wait(deadline)
        return bytes(self._buf)


def _text(data: bytes) -> str:
    if len(data) > 4096:
        return data[:4096].decode("utf-8", "replace") + f"... ({len(data)} bytes)"
    return data.decode("utf-8", "replace")
