"""The deployment endpoint: an ASGI app (and a Lambda-style handler) serving discovery and invokes.

``GET …/discover`` answers the manifest; ``POST …/invoke/{service}/{handler}`` takes turns of NDJSON
(``start`` + journal entries) and answers each with NDJSON (new commands, run proposals, one
terminator). Over ASGI every invoke request is served as a stream (spec/02 section 2.9): a turn
runs as soon as its entries are in, and after a ``suspension`` the response stays open for the
next turn until the request body ends; a request/response exchange is the special case of a
body that ends after one turn (WIRE-STREAM-2). Suspended sessions are kept for warm resumes,
bounded by count and idle time and dropped on any error, so memory stays bounded whatever the
server does.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from durable.asgi import serve_lifespan
from durable.protocol.errors import ProtocolViolation
from durable.protocol.framing import decode_frames, encode_frames
from durable.protocol.messages import (
    MANIFEST_CONTENT_TYPE,
    MAX_PROTOCOL_VERSION,
    MIN_PROTOCOL_VERSION,
    TURN_FOLLOWS_HEADER,
    Entry,
    ErrorMessage,
    Message,
    ResumeMissMessage,
    StartMessage,
    SuspensionMessage,
    invocation_content_type,
    parse_invocation_content_type,
)

from ._shell import Session, wall_clock_ms
from .discovery import manifest
from .service import AnyService, HandlerSpec

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_FRAME_BYTES = 32 * 1024 * 1024
#: after a final terminator, how long to wait for the end of the request body (WIRE-STREAM-9)
DRAIN_SECONDS = 1.0
SERVER_HEADER = "reference_sdk/0.1"
PROTOCOL_MODES = ("BIDI_STREAM", "REQUEST_RESPONSE")
#: restate-sdk's ``app(protocol=...)`` values
_RESTATE_PROTOCOLS = {"bidi": "BIDI_STREAM", "request_response": "REQUEST_RESPONSE"}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _json_response(status: int, obj: object) -> HttpResponse:
    return HttpResponse(status, (("content-type", "application/json"),), orjson.dumps(obj))


_ERROR_NAMES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_PROTOCOL_VERSION",
}


def _error(status: int, message: str) -> HttpResponse:
    """An error body (spec/07, ``schemas/error.json``)."""
    return _json_response(status, {"code": status, "name": _ERROR_NAMES.get(status, "INTERNAL"), "message": message})


def _accepts_manifest(accept: str | None) -> bool:
    """DISC-REQ-3: an ``accept`` header must allow manifest v1 (``*/*`` and ``application/*`` do)."""
    if accept is None or not accept.strip():
        return True
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"*/*", "application/*", MANIFEST_CONTENT_TYPE})


class SessionStore:
    """Suspended sessions awaiting a warm resume, keyed by (invocation id, attempt id).

    At most one session per invocation. Entries are kept in the order they were put, which is
    also the order they go idle, so dropping the idle ones looks at the oldest only; one timer
    (not one per session) drops them while the store is not empty."""

    def __init__(
        self, max_sessions: int = 1000, idle_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._items: OrderedDict[tuple[str, str], tuple[Session, float]] = OrderedDict()
        self._by_invocation: dict[str, tuple[str, str]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, invocation_id: str, attempt_id: str, session: Session) -> None:
        self.drop_invocation(invocation_id)
        key = (invocation_id, attempt_id)
        self._items[key] = (session, self.clock())
        self._by_invocation[invocation_id] = key
        self.evict()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no running loop: eviction happens on use
            return
        if self._timer is None or self._timer_loop is not loop:
            self._timer_loop = loop
            self._timer = loop.call_later(self.idle_seconds + 0.5, self._on_timer)

    def take(self, invocation_id: str, attempt_id: str) -> Session | None:
        self.evict()
        item = self._items.pop((invocation_id, attempt_id), None)
        if item is None:
            return None
        del self._by_invocation[invocation_id]
        return item[0]

    def drop_invocation(self, invocation_id: str) -> None:
        key = self._by_invocation.pop(invocation_id, None)
        if key is not None:
            session, _ = self._items.pop(key)
            session.close()

    def _pop_oldest(self) -> None:
        (inv, _attempt), (session, _t) = self._items.popitem(last=False)
        del self._by_invocation[inv]
        session.close()

    def evict(self) -> None:
        now = self.clock()
        while self._items and now - next(iter(self._items.values()))[1] > self.idle_seconds:
            self._pop_oldest()
        while len(self._items) > self.max_sessions:
            self._pop_oldest()

    def _on_timer(self) -> None:
        self._timer = None
        self.evict()
        if self._items and self._timer_loop is not None:
            oldest = next(iter(self._items.values()))[1]
            delay = max(0.0, oldest + self.idle_seconds - self.clock()) + 0.5
            self._timer = self._timer_loop.call_later(delay, self._on_timer)

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for session, _t in self._items.values():
            session.close()
        self._items.clear()
        self._by_invocation.clear()


class App:
    """``reference_sdk.app(services=[...])``: an ASGI 3 application."""

    def __init__(
        self,
        services: Iterable[AnyService],
        *,
        max_sessions: int = 1000,
        session_idle_seconds: float = 300.0,
        clock_ms: Callable[[], int] = wall_clock_ms,
        protocol_mode: str = "BIDI_STREAM",
        stream_idle_seconds: float = 60.0,
    ) -> None:
        if protocol_mode not in PROTOCOL_MODES:
            raise ValueError(f"protocol_mode must be one of {', '.join(PROTOCOL_MODES)}, not {protocol_mode!r}")
        if not stream_idle_seconds > 0:
            raise ValueError("stream_idle_seconds must be positive")
        self.services: dict[str, AnyService] = {}
        for s in services:
            if s.name in self.services:
                raise ValueError(f"service {s.name!r} is bound twice")
            self.services[s.name] = s
        self.sessions = SessionStore(max_sessions, session_idle_seconds)
        self.clock_ms = clock_ms
        #: what the manifest declares (DISC-MAN-2); request/response exchanges work either way
        self.protocol_mode = protocol_mode
        #: how long a stream waits for the next turn after a suspension (WIRE-STREAM-11)
        self.stream_idle_seconds = stream_idle_seconds
        #: invoke requests (exchanges) received and turns answered, for tests and benchmarks
        self.exchanges = 0
        self.turns = 0
        svcs = list(self.services.values())
        self._manifests = {mode: orjson.dumps(manifest(svcs, protocol_mode=mode)) for mode in PROTOCOL_MODES}
        self._lambda_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, on_shutdown=self.sessions.clear)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        parts = [p for p in scope["path"].split("/") if p]
        if (
            scope["method"] == "POST"
            and len(parts) >= 3
            and parts[-3] == "invoke"
            and parts[-1] != "discover"
        ):
            await self._stream(parts[-2], parts[-1], headers, receive, send)
            return
        body = b""
        too_large = False
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                too_large = True
                body = b""
            if not msg.get("more_body", False):
                break
        if too_large:
            resp = _error(413, "request body exceeds 32 MiB")
        else:
            resp = await self.handle(scope["method"], scope["path"], headers, body)
        await _send_response(send, resp)

    async def _stream(
        self, service: str, handler: str, headers: Mapping[str, str], receive: Receive, send: Send
    ) -> None:
        """Serve one invoke request as a stream of turns (spec/02 section 2.9)."""
        self.exchanges += 1
        version, refusal = self._check_invoke(service, handler, headers)
        length = headers.get("content-length", "")
        if refusal is None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            refusal = _error(413, "request body exceeds 32 MiB")  # a request/response body (VER-DEF-1)
        if refusal is not None:
            await _send_response(send, refusal)
            return
        spec = self.find(service, handler)
        assert spec is not None
        reader = _TurnReader(receive, self.stream_idle_seconds)
        # WIRE-STREAM-16: the server sent its request head while the first turn is still being
        # made durable; the response head goes back meanwhile, and the turn's answer is then
        # one write. Otherwise the head goes out with the first answer (one wake-up less).
        started = headers.get(TURN_FOLLOWS_HEADER) == "1"
        if started:
            await send(_start_message(200, (("content-type", invocation_content_type(version)),)))
        held: str | None = None  # the invocation whose session the last turn suspended
        final = False  # the last turn ended with a terminator other than suspension
        try:
            while True:
                out: list[Message]
                try:
                    turn = await reader.turn()
                    if turn is None:  # the request body ended
                        if held is not None:
                            break
                        raise ProtocolViolation("the request body must begin with a start message")
                    start, entries = turn
                    if held is not None and (start.resume_from == 0 or start.invocation_id != held):
                        # WIRE-STREAM-10: a later turn is a warm resume of the same invocation
                        raise ProtocolViolation(
                            "a later turn of a stream must resume the invocation it suspended"
                        )
                    self._check_start(spec, start)
                except ProtocolViolation as exc:  # WIRE-REQ-12, WIRE-STREAM-10
                    out = [ErrorMessage(code=exc.code, message=exc.message)]
                except _StreamIdle:  # WIRE-STREAM-11: end the response, keep the session
                    break
                else:
                    out = await self._turn(spec, start, entries)
                if not started:
                    started = True
                    await send(_start_message(200, (("content-type", invocation_content_type(version)),)))
                # WIRE-STREAM-8/15: the turn's response in one chunk, without waiting for the body's end
                await send({"type": "http.response.body", "body": encode_frames(out), "more_body": True})
                if not isinstance(out[-1], SuspensionMessage):
                    final = True
                    break  # WIRE-STREAM-9: nothing more after end, error or resume_miss
                held = start.invocation_id
            if final:
                # The server ends the request body as soon as it has read such a terminator
                # (WIRE-STREAM-7); waiting briefly for that before ending the response lets the
                # HTTP/1.1 server see both messages complete and keep the connection alive.
                await reader.drain(min(DRAIN_SECONDS, self.stream_idle_seconds))
        except _Disconnected:
            return
        if not started:  # idle before a first turn (WIRE-STREAM-11): a head still has to go out
            await send(_start_message(200, (("content-type", invocation_content_type(version)),)))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # ------------------------------------------------------------------ routing

    async def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        protocol_mode: str | None = None,
    ) -> HttpResponse:
        """One buffered request; ``protocol_mode`` overrides what the manifest declares."""
        parts = [p for p in path.split("/") if p]
        if parts and parts[-1] == "discover":
            if method != "GET":
                return _error(405, "use GET for discovery")
            if not _accepts_manifest(headers.get("accept")):
                return _error(415, f"this SDK serves the manifest as {MANIFEST_CONTENT_TYPE}")
            body = self._manifests[protocol_mode or self.protocol_mode]
            return HttpResponse(200, (("content-type", MANIFEST_CONTENT_TYPE),), body)
        if len(parts) >= 3 and parts[-3] == "invoke":
            if method != "POST":
                return _error(405, "use POST to invoke")
            return await self.invoke(parts[-2], parts[-1], headers, body)
        return _error(404, f"no route for {path}")

    def find(self, service: str, handler: str) -> HandlerSpec | None:
        s = self.services.get(service)
        return s.handlers.get(handler) if s is not None else None

    def _check_invoke(
        self, service: str, handler: str, headers: Mapping[str, str]
    ) -> tuple[int, HttpResponse | None]:
        """The protocol version of an invoke request, or the refusal (WIRE-NEG-2, WIRE-HTTP-5)."""
        version = parse_invocation_content_type(headers.get("content-type", ""))
        if version is None or not MIN_PROTOCOL_VERSION <= version <= MAX_PROTOCOL_VERSION:
            return 0, _error(
                415,
                f"unsupported content type {headers.get('content-type', '')!r}; "
                f"this SDK speaks {invocation_content_type(MIN_PROTOCOL_VERSION)}",
            )
        if self.find(service, handler) is None:
            return version, _error(404, f"unknown handler {service}/{handler}")
        return version, None

    async def invoke(self, service: str, handler: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        """A buffered invoke request (request/response mode, WIRE-HTTP-2): exactly one turn."""
        version, refusal = self._check_invoke(service, handler, headers)
        if refusal is not None:
            return refusal
        spec = self.find(service, handler)
        assert spec is not None
        ct = invocation_content_type(version)
        self.exchanges += 1
        messages = await self.attempt(spec, body)
        return HttpResponse(200, (("content-type", ct),), encode_frames(messages))

    # ------------------------------------------------------------------ one attempt

    async def attempt(self, spec: HandlerSpec, body: bytes) -> list[Message]:
        try:
            start, entries = self._parse(spec, body)
        except ProtocolViolation as exc:
            return [ErrorMessage(code=exc.code, message=exc.message)]
        return await self._turn(spec, start, entries)

    async def _turn(self, spec: HandlerSpec, start: StartMessage, entries: list[Entry]) -> list[Message]:
        """One turn (one attempt): continue the held session or start one, drive it, answer."""
        self.turns += 1
        try:
            if start.resume_from > 0:
                assert start.resume_attempt_id is not None
                session = self.sessions.take(start.invocation_id, start.resume_attempt_id)
                if session is None or not session.resume(start, entries):
                    if session is not None:
                        session.close()
                    self.sessions.drop_invocation(start.invocation_id)
                    return [ResumeMissMessage()]
            else:
                self.sessions.drop_invocation(start.invocation_id)
                session = Session(spec, start, entries, clock_ms=self.clock_ms)
        except ProtocolViolation as exc:
            return [ErrorMessage(code=exc.code, message=exc.message)]
        try:
            out = await session.drive()
        except asyncio.CancelledError:  # the server hung up: nothing of this attempt counts
            session.close()
            raise
        except Exception as exc:  # a bug of ours must still end the attempt cleanly (WIRE-RESP-11)
            session.close()
            return [ErrorMessage(code=500, message=f"SDK failure: {type(exc).__name__}: {exc}")]
        if isinstance(out[-1], SuspensionMessage):
            self.sessions.put(start.invocation_id, start.attempt_id, session)
        else:
            session.close()
        return out

    @staticmethod
    def _check_start(spec: HandlerSpec, start: StartMessage) -> None:
        if (start.service, start.handler) != (spec.service_name, spec.name):
            raise ProtocolViolation(
                f"start names {start.service}/{start.handler} but the path names {spec.service_name}/{spec.name}"
            )

    @classmethod
    def _parse(cls, spec: HandlerSpec, body: bytes) -> tuple[StartMessage, list[Entry]]:
        messages = decode_frames(body)
        if not messages or not isinstance(messages[0], StartMessage):
            raise ProtocolViolation("the request body must begin with a start message")
        start = messages[0]
        cls._check_start(spec, start)
        entries: list[Entry] = []
        for m in messages[1:]:
            if not isinstance(m, Entry):
                raise ProtocolViolation(f"unexpected {m.TYPE} message in an invoke request")
            entries.append(m)
        expected = start.journal_length - start.resume_from
        if len(entries) != expected:
            raise ProtocolViolation(
                f"start announces entries {start.resume_from}..{start.journal_length - 1} "
                f"({expected}) but {len(entries)} arrived"
            )
        return start, entries

    # ------------------------------------------------------------------ function platforms

    def lambda_handler(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        from .aws_lambda import handle_event

        if self._lambda_loop is None or self._lambda_loop.is_closed():
            self._lambda_loop = asyncio.new_event_loop()
        return handle_event(self, self._lambda_loop, event)


class _Disconnected(Exception):
    """The server went away (``http.disconnect``)."""


class _StreamIdle(Exception):
    """No next turn and no end of the request body within the bound (WIRE-STREAM-11)."""


class _TurnReader:
    """Reads a request body turn by turn: ``start`` and the entries it announces (WIRE-STREAM-8)."""

    def __init__(self, receive: Receive, idle_seconds: float) -> None:
        self.receive = receive
        self.idle_seconds = idle_seconds
        self.buf = bytearray()
        self.scanned = 0  # no newline in buf[:scanned]: a big frame is scanned once, not per chunk
        self.eof = False

    async def _more(self, bounded: bool) -> None:
        if bounded:
            try:
                async with asyncio.timeout(self.idle_seconds):  # no extra task, unlike wait_for
                    msg = await self.receive()
            except TimeoutError:
                raise _StreamIdle() from None
        else:
            msg = await self.receive()
        if msg["type"] == "http.disconnect":
            raise _Disconnected()
        self.buf += msg.get("body", b"")
        if not msg.get("more_body", False):
            self.eof = True

    async def _frame(self, *, bounded: bool) -> Message | None:
        while True:
            nl = self.buf.find(b"\n", self.scanned)
            if nl >= 0:
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                self.scanned = 0
                return decode_frames(line)[0]  # WIRE-FRAME-*: a bad frame is a ProtocolViolation
            self.scanned = len(self.buf)
            if self.eof:
                if self.buf:
                    raise ProtocolViolation("the request body ends inside a frame (truncated)")
                return None
            if len(self.buf) > MAX_FRAME_BYTES:
                raise ProtocolViolation("frame exceeds the maximum size")
            await self._more(bounded)

    async def drain(self, seconds: float) -> None:
        """Read (and drop) the rest of the request body for at most ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                for _ in range(100_000):
                    if self.eof:
                        return
                    self.buf.clear()
                    self.scanned = 0
                    await self._more(bounded=False)
        except TimeoutError:
            return

    async def turn(self) -> tuple[StartMessage, list[Entry]] | None:
        """The next turn, or None when the request body ended where a turn may begin."""
        first = await self._frame(bounded=True)
        if first is None:
            return None
        if not isinstance(first, StartMessage):  # WIRE-REQ-1
            raise ProtocolViolation(f"a turn must begin with a start message, not {first.TYPE}")
        start = first
        expected = start.journal_length - start.resume_from
        entries: list[Entry] = []
        while len(entries) < max(expected, 0):
            m = await self._frame(bounded=True)
            if m is None:
                break
            if not isinstance(m, Entry):
                raise ProtocolViolation(f"unexpected {m.TYPE} message in an invoke request")
            entries.append(m)
        if self.buf.strip() or len(entries) != expected:  # WIRE-REQ-2: exactly those entries
            extra = self.buf.count(b"\n")
            raise ProtocolViolation(
                f"start announces entries {start.resume_from}..{start.journal_length - 1} "
                f"({expected}) but {len(entries) + extra} arrived"
            )
        return start, entries


def _start_message(status: int, headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(k.encode(), v.encode()) for k, v in (*headers, ("x-durable-sdk", SERVER_HEADER))],
    }


async def _send_response(send: Send, resp: HttpResponse) -> None:
    await send(_start_message(resp.status, resp.headers))
    await send({"type": "http.response.body", "body": resp.body})


class LambdaEndpoint:
    """``handler(event, context)`` for function platforms, wrapping an :class:`App`."""

    def __init__(self, application: App) -> None:
        self.app = application

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        return self.app.lambda_handler(event, context)


def app(services: Iterable[AnyService], **options: Any) -> Any:
    """An ASGI app serving ``services``.

    ``protocol`` is restate-sdk's option: ``"bidi"`` (the default) declares ``BIDI_STREAM``,
    ``"request_response"`` declares ``REQUEST_RESPONSE`` (DISC-MAN-2, DISC-MAN-12); both serve
    request/response exchanges. As in restate-sdk, on AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME``
    set) the same call returns a ``handler(event, context)`` instead, so ``handler =
    app(services=[...])`` deploys as is; it always declares ``REQUEST_RESPONSE``."""
    protocol = options.pop("protocol", None)
    if protocol is not None:
        if protocol not in _RESTATE_PROTOCOLS:
            raise ValueError(f"protocol must be 'bidi' or 'request_response', not {protocol!r}")
        options.setdefault("protocol_mode", _RESTATE_PROTOCOLS[protocol])
    options.pop("identity_keys", None)
    options.pop("journal_value_codec", None)
    application = App(services, **options)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return LambdaEndpoint(application)
    return application


__all__ = ["App", "HttpResponse", "LambdaEndpoint", "SessionStore", "app"]
