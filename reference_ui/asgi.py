"""ASGI front doors for the UI: on its own (:func:`asgi_app`) or in front of the admin API (:func:`mount`).

Why not a framework: the reference server uses bare ASGI (reference_server/http/asgi.py) and
the UI adds only static files, so a dependency would cost more than these few lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from durable.asgi import serve_lifespan

from .assets import is_ui_path, resolve

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_NOT_FOUND = b'{"code":404,"message":"not found","name":"NOT_FOUND"}'
_NOT_ALLOWED = b'{"code":405,"message":"method not allowed","name":"METHOD_NOT_ALLOWED"}'


async def _answer(send: Send, status: int, headers: dict[str, str], body: bytes, head: bool) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _serve(scope: Scope, send: Send) -> None:
    method = str(scope.get("method", "GET")).upper()
    json_type = {"content-type": "application/json"}
    if method not in ("GET", "HEAD"):
        await _answer(send, 405, {**json_type, "allow": "GET, HEAD"}, _NOT_ALLOWED, False)
        return
    asset = resolve(str(scope.get("path", "/")))
    if asset is None:
        await _answer(send, 404, json_type, _NOT_FOUND, method == "HEAD")
        return
    await _answer(send, asset.status, asset.headers, asset.body, method == "HEAD")


def asgi_app() -> ASGIApp:
    """An ASGI app that serves only the UI (``/`` and ``/ui/...``; 404 elsewhere)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
        elif scope["type"] == "http":
            await _serve(scope, send)

    return app


def mount(api: ASGIApp) -> ASGIApp:
    """Wrap ``api`` (the admin app): ``GET``/``HEAD`` of ``/`` and ``/ui/...`` are the UI's,
    every other request (and every other method) goes to ``api`` unchanged."""
    ui = asgi_app()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and str(scope.get("method", "")).upper() in ("GET", "HEAD")
            and is_ui_path(str(scope.get("path", "")))
        ):
            await ui(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app
