"""The server's HTTP/1.1 client for invoke requests (spec/02): request/response and streaming mode.

One :class:`Exchange` is one HTTP request to a deployment and its response. In request/response
mode it carries exactly one turn (WIRE-HTTP-3): the body has a ``content-length`` and the
response is read to its end. In streaming mode (WIRE-STREAM-3) the request body is chunked and
stays open: :meth:`Exchange.turn` writes one turn's request part (``start`` + journal entries)
as one chunk and reads response frames until that turn's terminator (WIRE-STREAM-4), while the
response body stays open too; :meth:`Exchange.finish` ends the request body (the zero-length
chunk, WIRE-STREAM-7), reads the response to its end and gives the connection back to the pool.

Every failure of a turn (connect error, reset, truncation, a status other than 200, a wrong
content type, malformed NDJSON, the abort timeout) raises :class:`InvokeError` with the code
the attempt failure is recorded with (WIRE-HTTP-8, WIRE-HTTP-9, WIRE-STREAM-13); an exchange
that failed is never reused.

Why not httpx: it cannot write a request body while it reads the response, and its pool and
task machinery dominated the server's CPU profile. This client is a plain asyncio protocol
around llhttp (``httptools``) with a keep-alive pool per (scheme, host, port).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from durable.protocol import ProtocolViolation, decode_frames, parse_invocation_content_type
from durable.protocol.messages import (
    TURN_FOLLOWS_HEADER,
    EndMessage,
    ErrorMessage,
    Message,
    ResumeMissMessage,
    SuspensionMessage,
)

TERMINATORS = (EndMessage, SuspensionMessage, ErrorMessage, ResumeMissMessage)
MAX_FRAME_BYTES = 32 * 1024 * 1024
#: an idle pooled connection older than this is not reused (SDK servers close idle
#: keep-alive connections after about 5 s)
IDLE_REUSE_S = 4.0
MAX_IDLE_PER_HOST = 128
FINISH_TIMEOUT_S = 10.0


class _Unsent(ConnectionResetError):
    """The connection was already closed: nothing of the request was written."""


class InvokeError(Exception):
    """A failed attempt (turn): ``code`` is recorded as the attempt's failure code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    prefix: str  # the base URI's path, without a trailing slash

    @classmethod
    def parse(cls, uri: str) -> Target:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvokeError(500, f"cannot invoke {uri!r}: not an http(s) URI")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


class _Conn(asyncio.Protocol):
    """One keep-alive connection; parses the response of the current exchange as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.lost: BaseException | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.headers_done = False
        self.keep_alive = False
        self.body = bytearray()
        self.complete = False
        self.received = False
        self.bad: str | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.parser is None:  # bytes while idle: nothing may arrive between exchanges
            self._close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.bad = f"malformed HTTP response: {exc}"
            self._close()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it at the message end
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True

    # -- use
    def begin(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers = {}
        self.headers_done = False
        self.keep_alive = False
        self.body = bytearray()
        self.complete = False
        self.received = False
        self.bad = None

    def reusable(self) -> bool:
        """After an exchange: the response ended cleanly, nothing else arrived, keep-alive."""
        return (
            self.complete
            and not self.closed
            and self.bad is None
            and self.keep_alive
            and not self.body
        )

    def usable(self) -> bool:
        return (
            not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and time.monotonic() - self.idle_since < IDLE_REUSE_S
        )

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise _Unsent("the connection is closed")
        self.transport.write(data)
        if self._paused:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
            if self.closed:
                raise ConnectionResetError("the connection closed while sending")

    async def wait(self) -> None:
        """Wait until more of the response arrived or the connection ended."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Invoker:
    """A keep-alive pool of connections per deployment host; makes exchanges."""

    def __init__(self, *, connect_timeout_s: float = 10.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        #: turns written whose response (up to its terminator) has not arrived yet
        self.awaiting = 0
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._targets: dict[str, Target] = {}
        self._closed = False

    def exchange(
        self,
        uri: str,
        path: str,
        headers: Mapping[str, str],
        content_type: str,
        *,
        streaming: bool,
    ) -> Exchange:
        """An exchange with ``{uri}{path}``; nothing is sent before the first :meth:`Exchange.turn`."""
        target = self._targets.get(uri)
        if target is None:
            target = self._targets[uri] = Target.parse(uri)
        return Exchange(self, target, path, headers, content_type, streaming=streaming)

    def _pooled(self, target: Target) -> _Conn | None:
        """An idle keep-alive connection to ``target``, if one is at hand."""
        idle = self._idle.get((target.scheme, target.host, target.port))
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.abort()
        return None

    async def _connect(self, target: Target) -> tuple[_Conn, bool]:
        """A connection to ``target`` and whether it was reused from the pool."""
        pooled = self._pooled(target)
        if pooled is not None:
            return pooled, True
        loop = asyncio.get_running_loop()
        ctx: ssl.SSLContext | None = None
        if target.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _t, conn = await loop.create_connection(_Conn, target.host, target.port, ssl=ctx)
        except (OSError, TimeoutError) as exc:
            raise InvokeError(503, f"cannot connect to {target.authority}: {exc!r}") from exc
        return conn, False

    def _release(self, target: Target, conn: _Conn) -> None:
        if self._closed or not conn.reusable():
            conn.abort()
            return
        conn.parser = None
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault((target.scheme, target.host, target.port), [])
        if len(idle) >= MAX_IDLE_PER_HOST:
            idle.pop(0).abort()
        idle.append(conn)

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()


class Exchange:
    """One invoke request: one turn (request/response mode) or several (streaming mode)."""

    def __init__(
        self,
        invoker: Invoker,
        target: Target,
        path: str,
        headers: Mapping[str, str],
        content_type: str,
        *,
        streaming: bool,
    ) -> None:
        self.invoker = invoker
        self.target = target
        self.path = target.prefix + path
        self.url = f"{target.scheme}://{target.authority}{self.path}"
        self.headers = headers
        self.content_type = content_type
        self.streaming = streaming
        self.conn: _Conn | None = None
        self.turns = 0
        self.body_ended = False
        self.failed = False
        #: the request head went out ahead of the first turn (:meth:`send_head_early`)
        self.head_early = False

    @property
    def can_continue(self) -> bool:
        """Whether another turn may be written (WIRE-STREAM-5): streaming, open on both sides."""
        conn = self.conn
        return (
            self.streaming
            and not self.failed
            and not self.body_ended
            and conn is not None
            and not conn.closed
            and not conn.complete
        )

    def _head(self, length: int | None, *, turn_follows: bool = False) -> bytes:
        lines = [f"POST {self.path} HTTP/1.1", f"host: {self.target.authority}"]
        for name, value in self.headers.items():
            if name.lower() in ("host", "content-length", "transfer-encoding", "connection",
                                "content-type", "accept", TURN_FOLLOWS_HEADER):
                continue
            if any(c in name or c in value for c in "\r\n\0") or ":" in name:
                raise InvokeError(500, f"additional header {name!r} cannot be sent")
            lines.append(f"{name}: {value}")
        lines.append(f"content-type: {self.content_type}")  # WIRE-NEG-1
        lines.append(f"accept: {self.content_type}")
        if turn_follows:
            lines.append(f"{TURN_FOLLOWS_HEADER}: 1")  # WIRE-STREAM-16
        if length is None:
            lines.append("transfer-encoding: chunked")  # WIRE-STREAM-3
        else:
            lines.append(f"content-length: {length}")
        try:
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError as exc:
            raise InvokeError(500, f"an additional header cannot be sent: {exc}") from exc

    def send_head_early(self) -> bool:
        """Streaming mode: write the request head now on an idle pooled connection, while the
        first turn is not durable yet (WIRE-STREAM-16), so that the SDK's HTTP server sets the
        request up meanwhile; :meth:`turn` then writes only the turn. Nothing of the invocation
        is in the head. False (nothing sent) when not streaming or no idle connection is at hand."""
        if not self.streaming or self.conn is not None or self.failed:
            return False
        try:
            head = self._head(None, turn_follows=True)
        except InvokeError:
            return False  # the first turn reports it
        conn = self.invoker._pooled(self.target)
        if conn is None or conn.transport is None:
            return False
        conn.begin()
        conn.transport.write(head)
        self.conn = conn
        self.head_early = True
        return True

    async def turn(self, part: bytes, timeout_s: float) -> list[Message]:
        """Send one turn's request part; return its response up to and including the terminator.

        The abort timeout runs from the start of the write to the terminator (WIRE-HTTP-8,
        WIRE-STREAM-13)."""
        if self.failed:
            raise InvokeError(503, "the exchange already failed")
        self.invoker.awaiting += 1
        try:
            async with asyncio.timeout(timeout_s):
                return await self._turn(part)
        except TimeoutError:
            self.abort()
            raise InvokeError(
                503, f"{self.url}: no complete response within the abort timeout ({timeout_s:g} s)"
            ) from None
        except InvokeError:
            self.abort()
            raise
        except Exception as exc:  # OSError and anything unforeseen: a failed attempt, never a stuck one
            self.abort()
            raise InvokeError(503, f"request to {self.url} failed: {exc!r}") from exc
        except BaseException:
            self.abort()
            raise
        finally:
            self.invoker.awaiting -= 1

    async def _turn(self, part: bytes) -> list[Message]:
        self.turns += 1
        early, self.head_early = self.head_early, False
        conn = self.conn
        if early and conn is not None and (conn.closed or conn.complete or conn.bad is not None):
            # the peer closed or ended its response before our first turn: nothing of the
            # attempt went out, so start over on another connection, head and turn together
            conn.abort()
            self.conn = None
            early = False
        if early:
            assert self.conn is not None
            await self.conn.write(b"%x\r\n" % len(part) + part + b"\r\n")
            await self._headers()
        elif self.conn is None:
            for _try in range(2):
                conn, reused = await self.invoker._connect(self.target)
                self.conn = conn
                conn.begin()
                if self.streaming:
                    data = self._head(None) + b"%x\r\n" % len(part) + part + b"\r\n"
                else:
                    data = self._head(len(part)) + part
                    self.body_ended = True
                try:
                    await conn.write(data)
                except _Unsent:
                    # a pooled connection the peer closed meanwhile, nothing sent: a new one.
                    # Once anything is written the attempt is never sent again (a retry is a
                    # new attempt of the engine, with a new attempt id).
                    if not reused or _try:
                        raise
                    conn.abort()
                    self.conn = None
                    continue
                await self._headers()
                break
            assert self.conn is not None
        else:
            if not self.can_continue:
                raise InvokeError(503, f"{self.url}: the stream ended before the next turn")
            if self.conn.body:  # WIRE-STREAM-14: nothing may arrive between a terminator and our turn
                raise InvokeError(571, "protocol violation: data after the previous turn's terminator")
            await self.conn.write(b"%x\r\n" % len(part) + part + b"\r\n")
        conn = self.conn
        if not self.streaming:
            while not conn.complete:
                self._check_alive(conn)
                await conn.wait()
            body = bytes(conn.body)
            del conn.body[:]
            return self._decode(body)
        return await self._frames(conn)

    async def _headers(self) -> None:
        conn = self.conn
        assert conn is not None
        while not conn.headers_done:
            self._check_alive(conn)
            await conn.wait()
        if conn.status != 200:  # WIRE-HTTP-9, WIRE-NEG-5 (415)
            with contextlib.suppress(InvokeError):
                while not conn.complete and len(conn.body) < 4096:
                    self._check_alive(conn)
                    await conn.wait()
            text = bytes(conn.body[:500]).decode("utf-8", "replace")
            raise InvokeError(conn.status, f"{self.url} answered {conn.status}: {text}")
        ctype = conn.headers.get(b"content-type", b"").decode("latin-1")
        if parse_invocation_content_type(ctype) is None or ctype.split(";")[0].strip().lower() != (
            self.content_type.lower()
        ):
            raise InvokeError(571, f"unexpected content-type {ctype!r}")

    def _check_alive(self, conn: _Conn) -> None:
        if conn.bad is not None:
            raise InvokeError(503, f"{self.url}: {conn.bad}")
        if conn.closed:
            what = "reset" if conn.lost is not None else "closed"
            raise InvokeError(503, f"{self.url}: the connection was {what} before the response was complete")

    async def _frames(self, conn: _Conn) -> list[Message]:
        """Read frames up to this turn's terminator (WIRE-RESP-1, WIRE-STREAM-4)."""
        msgs: list[Message] = []
        buf = conn.body
        pos = 0
        scanned = 0  # no newline in buf[pos:scanned]: a big frame is scanned once, not per chunk
        while True:
            nl = buf.find(b"\n", max(pos, scanned))
            if nl < 0:
                scanned = len(buf)
                if len(buf) - pos > MAX_FRAME_BYTES:
                    raise InvokeError(571, "protocol violation: frame exceeds the maximum size")
                if conn.complete:
                    raise InvokeError(
                        571, "protocol violation: the response ended before the turn's terminator"
                    )
                self._check_alive(conn)
                await conn.wait()
                continue
            msgs.extend(self._decode(bytes(buf[pos : nl + 1])))
            pos = nl + 1
            if isinstance(msgs[-1], TERMINATORS):
                del buf[:pos]
                if buf:  # WIRE-STREAM-14: nothing may follow the terminator before our next turn
                    raise InvokeError(571, "protocol violation: data after the turn's terminator")
                if not isinstance(msgs[-1], SuspensionMessage):
                    await self._end_body()  # WIRE-STREAM-7: no further turn can follow
                return msgs

    @staticmethod
    def _decode(body: bytes) -> list[Message]:
        try:
            return decode_frames(body)
        except ProtocolViolation as exc:
            raise InvokeError(571, f"protocol violation: {exc.message}") from exc

    async def _end_body(self) -> None:
        if self.streaming and not self.body_ended and self.conn is not None:
            self.body_ended = True
            await self.conn.write(b"0\r\n\r\n")

    async def finish(self) -> None:
        """End the request body, read the response to its end, pool the connection (WIRE-STREAM-7)."""
        conn = self.conn
        if conn is None:
            return
        self.conn = None
        if self.failed:
            return
        try:
            async with asyncio.timeout(FINISH_TIMEOUT_S):
                if not self.body_ended:
                    self.body_ended = True
                    await conn.write(b"0\r\n\r\n")
                while not conn.complete and not conn.closed and conn.bad is None and not conn.body:
                    await conn.wait()
        except (TimeoutError, OSError):
            conn.abort()
            return
        self.invoker._release(self.target, conn)

    def abort(self) -> None:
        self.failed = True
        if self.conn is not None:
            self.conn.abort()
            self.conn = None


__all__ = ["Exchange", "InvokeError", "Invoker", "Target"]
