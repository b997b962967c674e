"""The deployment endpoint: an ASGI app (and a Lambda-style handler) serving discovery and invokes.

``GET …/discover`` answers the manifest; ``POST …/invoke/{service}/{handler}`` takes one attempt's
NDJSON (``start`` + journal entries) and answers NDJSON (new commands, run proposals, one
terminator). Suspended sessions are kept for warm resumes, bounded by count and idle time and
dropped on any error, so memory stays bounded whatever the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
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
SERVER_HEADER = "reference_sdk/0.1"

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
    """Suspended sessions awaiting a warm resume, keyed by (invocation id, attempt id)."""

    def __init__(
        self, max_sessions: int = 1000, idle_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._items: OrderedDict[tuple[str, str], tuple[Session, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, invocation_id: str, attempt_id: str, session: Session) -> None:
        self.drop_invocation(invocation_id)
        self._items[(invocation_id, attempt_id)] = (session, self.clock())
        self.evict()
        with contextlib.suppress(RuntimeError):  # no running loop: eviction happens on use
            asyncio.get_running_loop().call_later(self.idle_seconds + 0.5, self.evict)

    def take(self, invocation_id: str, attempt_id: str) -> Session | None:
        self.evict()
        item = self._items.pop((invocation_id, attempt_id), None)
        return item[0] if item is not None else None

    def drop_invocation(self, invocation_id: str) -> None:
        for key in [k for k in self._items if k[0] == invocation_id]:
            session, _ = self._items.pop(key)
            session.close()

    def evict(self) -> None:
        now = self.clock()
        for key in [k for k, (_s, t) in self._items.items() if now - t > self.idle_seconds]:
            self._items.pop(key)[0].close()
        while len(self._items) > self.max_sessions:
            _key, (session, _t) = self._items.popitem(last=False)
            session.close()

    def clear(self) -> None:
        for session, _t in self._items.values():
            session.close()
        self._items.clear()


class App:
    """``reference_sdk.app(services=[...])``: an ASGI 3 application."""

    def __init__(
        self,
        services: Iterable[AnyService],
        *,
        max_sessions: int = 1000,
        session_idle_seconds: float = 300.0,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.services: dict[str, AnyService] = {}
        for s in services:
            if s.name in self.services:
                raise ValueError(f"service {s.name!r} is bound twice")
            self.services[s.name] = s
        self.sessions = SessionStore(max_sessions, session_idle_seconds)
        self.clock_ms = clock_ms
        self._manifest = orjson.dumps(manifest(list(self.services.values())))
        self._lambda_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, on_shutdown=self.sessions.clear)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
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
        await send(
            {
                "type": "http.response.start",
                "status": resp.status,
                "headers": [(k.encode(), v.encode()) for k, v in (*resp.headers, ("x-durable-sdk", SERVER_HEADER))],
            }
        )
        await send({"type": "http.response.body", "body": resp.body})

    # ------------------------------------------------------------------ routing

    async def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        parts = [p for p in path.split("/") if p]
        if parts and parts[-1] == "discover":
            if method != "GET":
                return _error(405, "use GET for discovery")
            if not _accepts_manifest(headers.get("accept")):
                return _error(415, f"this SDK serves the manifest as {MANIFEST_CONTENT_TYPE}")
            return HttpResponse(200, (("content-type", MANIFEST_CONTENT_TYPE),), self._manifest)
        if len(parts) >= 3 and parts[-3] == "invoke":
            if method != "POST":
                return _error(405, "use POST to invoke")
            return await self.invoke(parts[-2], parts[-1], headers, body)
        return _error(404, f"no route for {path}")

    def find(self, service: str, handler: str) -> HandlerSpec | None:
        s = self.services.get(service)
        return s.handlers.get(handler) if s is not None else None

    async def invoke(self, service: str, handler: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        version = parse_invocation_content_type(headers.get("content-type", ""))
        if version is None or not MIN_PROTOCOL_VERSION <= version <= MAX_PROTOCOL_VERSION:
            return _error(
                415,
                f"unsupported content type {headers.get('content-type', '')!r}; "
                f"this SDK speaks {invocation_content_type(MIN_PROTOCOL_VERSION)}",
            )
        spec = self.find(service, handler)
        if spec is None:
            return _error(404, f"unknown handler {service}/{handler}")
        ct = invocation_content_type(version)
        messages = await self.attempt(spec, body)
        return HttpResponse(200, (("content-type", ct),), encode_frames(messages))

    # ------------------------------------------------------------------ one attempt

    async def attempt(self, spec: HandlerSpec, body: bytes) -> list[Message]:
        try:
            start, entries = self._parse(spec, body)
        except ProtocolViolation as exc:
            return [ErrorMessage(code=exc.code, message=exc.message)]
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
    def _parse(spec: HandlerSpec, body: bytes) -> tuple[StartMessage, list[Entry]]:
        messages = decode_frames(body)
        if not messages or not isinstance(messages[0], StartMessage):
            raise ProtocolViolation("the request body must begin with a start message")
        start = messages[0]
        if (start.service, start.handler) != (spec.service_name, spec.name):
            raise ProtocolViolation(
                f"start names {start.service}/{start.handler} but the path names {spec.service_name}/{spec.name}"
            )
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


class LambdaEndpoint:
    """``handler(event, context)`` for function platforms, wrapping an :class:`App`."""

    def __init__(self, application: App) -> None:
        self.app = application

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        return self.app.lambda_handler(event, context)


def app(services: Iterable[AnyService], **options: Any) -> Any:
    """An ASGI app serving ``services`` (request/response protocol).

    As in restate-sdk, on AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) the same call returns a
    ``handler(event, context)`` instead, so ``handler = app(services=[...])`` deploys as is."""
    options.pop("protocol", None)
    options.pop("identity_keys", None)
    options.pop("journal_value_codec", None)
    application = App(services, **options)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return LambdaEndpoint(application)
    return application


__all__ = ["App", "HttpResponse", "LambdaEndpoint", "SessionStore", "app"]
