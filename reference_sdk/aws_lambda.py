"""A request/response handler for function platforms (AWS Lambda behind API Gateway / URLs).

The platform hands us one HTTP request as an event (base64 body) and wants one response
object back; the same routing as the ASGI app runs on a private event loop that persists across
invocations of a warm function instance (so warm resumes keep working there too).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .endpoint import App
    from .service import AnyService


def _request_parts(event: Mapping[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") or {}
    method = str(event.get("httpMethod") or http.get("method") or "GET").upper()
    path = str(event.get("rawPath") or event.get("path") or http.get("path") or "/")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    if isinstance(raw, bytes):
        body = raw
    elif event.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = str(raw).encode()
    return method, path, headers, body


def handle_event(app: App, loop: asyncio.AbstractEventLoop, event: Mapping[str, Any]) -> dict[str, Any]:
    method, path, headers, body = _request_parts(event)
    # a function platform buffers both bodies: request/response only (DISC-MAN-12)
    resp = loop.run_until_complete(app.handle(method, path, headers, body, protocol_mode="REQUEST_RESPONSE"))
    return {
        "statusCode": resp.status,
        "headers": dict(resp.headers),
        "isBase64Encoded": True,
        "body": base64.b64encode(resp.body).decode("ascii"),
    }


def lambda_handler(services: Iterable[AnyService], **options: Any) -> Any:
    """``handler = reference_sdk.lambda_handler([svc])`` for a platform calling ``handler(event, context)``."""
    from .endpoint import App

    application = App(services, **options)
    return application.lambda_handler


__all__ = ["handle_event", "lambda_handler"]
