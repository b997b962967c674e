"""A plain ASGI echo app for the fault-proxy tests: echoes the body, logs what arrived.

Under ``/invoke/Stream/`` it plays a streaming SDK instead (spec/02 2.9): it answers every turn
(``start`` + the entries it announces) as soon as it has arrived, with a ``propose_run_completion``
and a terminator (``start.answer``: ``suspension`` by default, or ``end``, which ends the
response), and with an ``error`` terminator when the request body ends inside a turn."""

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
    if scope["path"].startswith("/invoke/Stream/"):
        await _stream(scope, receive, send)
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


async def _stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    from fuzz.proxy import _take_turn

    chunked = any(k.lower() == b"transfer-encoding" for k, _ in scope["headers"])
    entry: dict[str, Any] = {"path": scope["path"], "chunked": chunked, "turns": 0, "complete": False}
    LOG.append(entry)
    buf = bytearray()
    started = ended = False

    async def write(data: bytes, more: bool = True) -> None:
        nonlocal started, ended
        if not started:
            started = True
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/x-ndjson")]})
        await send({"type": "http.response.body", "body": data, "more_body": more})
        ended = not more

    while not ended:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        buf += msg.get("body", b"")
        while not ended and (turn := _take_turn(buf)) is not None:
            start = json.loads(turn.split(b"\n", 1)[0])
            n = entry["turns"]
            entry["turns"] += 1
            answer = start.get("answer", "suspension")
            frames = [{"type": "propose_run_completion", "completion_id": 1, "value": n}]
            frames.append({"type": "end"} if answer == "end" else
                          {"type": "suspension", "awaiting": {"combinator": "first_completed",
                                                              "completion_ids": [1]}})
            await write(b"".join(json.dumps(f).encode() + b"\n" for f in frames),
                        more=answer != "end")
        if not msg.get("more_body"):
            entry["complete"] = True
            if not ended:
                tail = b'{"type":"error","code":571,"message":"truncated turn"}\n' if buf else b""
                await write(tail, more=False)
