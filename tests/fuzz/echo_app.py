"""A plain ASGI echo app for the fault-proxy tests: echoes the body, logs what arrived."""

from __future__ import annotations

import json
from typing import Any

from durable.asgi import serve_lifespan

LOG: list[dict[str, Any]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/log":
        payload = json.dumps(LOG).encode()
    else:
        body = b""
        complete = False
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                break
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                complete = True
                break
        LOG.append({"path": scope["path"], "len": len(body), "complete": complete})
        if not complete:
            return
        payload = body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson")]})
    await send({"type": "http.response.body", "body": payload})
