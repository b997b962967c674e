"""Minimal ASGI plumbing: a request object, responses, and JSON errors.

Every error leaves as ``{"code", "message"}`` JSON with the matching status, and nothing
here raises past the app: an unexpected exception becomes a logged 500 rather than a
dropped connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from durable.asgi import serve_lifespan

log = logging.getLogger("durable.http")
Json = Any
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class HttpError(Exception):
    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, name: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.name = name


@dataclass
class Request:
    method: str
    path: str
    segments: list[str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    receive: Receive
    max_body: int
    _body: bytes | None = field(default=None)

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive, max_body: int) -> Request:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        trimmed = path.strip("/")
        segments = (
            [unquote(s) if "%" in s else s for s in trimmed.split("/")] if trimmed else []
        )
        headers: dict[str, str] = {}
        for k, v in scope.get("headers", ()):
            # ASGI servers hand header names lowercased (h11, httptools via uvicorn)
            name = k.decode("latin-1")
            value = v.decode("latin-1")
            if name in headers:
                headers[name] = f"{headers[name]}, {value}"
            else:
                headers[name] = value
        qs = scope.get("query_string", b"")
        query = parse_qs(qs.decode("latin-1"), keep_blank_values=True) if qs else {}
        return cls(scope["method"].upper(), path, segments, query, headers, receive, max_body)

    @property
    def has_body(self) -> bool:
        """Whether the request announces a body (a non-zero content-length, or chunked)."""
        length = self.headers.get("content-length")
        if length is not None:
            return length.strip() not in ("", "0")
        return "transfer-encoding" in self.headers

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    async def body(self) -> bytes:
        if self._body is not None:
            return self._body
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise HttpError(413, f"request body larger than {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise HttpError(413, f"request body larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._body = b"".join(chunks)
        return self._body

    async def drain(self) -> None:
        """Read an unread body so that the connection can be kept alive for the next request."""
        if self._body is None and self.has_body:
            with contextlib.suppress(HttpError):
                await self.body()

    async def json(self) -> Json:
        body = await self.body()
        ctype = self.headers.get("content-type", "")
        if body and ctype and not is_json_content_type(ctype):
            raise HttpError(415, f"expected application/json, got {ctype}")
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"malformed JSON body: {exc}") from exc


def is_json_content_type(value: str) -> bool:
    base = value.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, send: Send, close: bool = False) -> None:
        """Send as one ``start`` and one ``body`` event; ``close``: ask the server to close the
        connection after it (the request's body was left unread)."""
        headers = [(k.encode(), v.encode()) for k, v in self.headers.items()]
        headers.append((b"content-length", str(len(self.body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def json_response(obj: Json, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, orjson.dumps(obj), {"content-type": "application/json", **(headers or {})}
    )


ERROR_NAMES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    470: "NOT_READY",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, name: str | None = None
) -> Response:
    body: dict[str, Json] = {"code": status, "message": message}
    name = name or ERROR_NAMES.get(status)
    if name:
        body["name"] = name
    return json_response(body, status, headers)


Handler = Callable[[Request], Awaitable[Response]]


def asgi_app(
    handle: Handler, max_body: int, broken: Callable[[], bool] = lambda: False
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request.from_scope(scope, receive, max_body)
        try:
            if broken():
                raise HttpError(503, "the store failed; restart the server")
            response = await handle(request)
        except HttpError as exc:
            response = error_response(exc.status, exc.message, exc.headers, exc.name)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = error_response(500, "internal server error")
        if response.status != 413:
            await request.drain()
        # a body we refused to read (over the limit) cannot be skipped: end the connection
        await response.send(send, close=request._body is None and request.has_body)

    return app
