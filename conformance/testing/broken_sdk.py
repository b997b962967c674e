"""Deliberately broken streaming SDKs, to prove that the SDK half's streaming cases can fail.

Each bug is an ASGI wrapper around a correct endpoint (our reference SDK serving the spec/08
services) that breaks one property of spec/02 section 2.9 at the transport level, the way a real
SDK or the platform in front of it could:

- ``buffering``: the whole request body is read before the endpoint sees it (a buffering
  platform or proxy in front of a deployment that still declares BIDI_STREAM);
- ``per_turn``: every turn is served as its own buffered request and the response only ends
  with the request body (no stream state at all: no 571 for bad turns, no end after ``end``);
- ``trailing_end``: an extra ``end`` frame after every ``suspension`` terminator;
- ``resume_rewrite``: every warm resume is made to name the attempt the stream last suspended
  (the SDK's resume check is effectively skipped);
- ``late_sessions``: suspended sessions become available only when the exchange ends;
- ``split_chunks``: each turn's response is written in two chunks;
- ``stream_only``: request/response (content-length) exchanges are refused;
- ``any_version``: the protocol version of a streaming request is not checked;
- ``bad_versions``: the manifest declares ``minProtocolVersion`` 2 and ``maxProtocolVersion`` 1;
- ``suspend_on_mismatch``: a journal mismatch (570) is answered with a suspension instead;
- ``code_599``: retryable errors go on the wire with the internal code 599 (SUSPENDED).

:func:`serve_sdk` serves one on a free loopback port (hypercorn) for the duration of a block.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from durable.protocol.messages import invocation_content_type

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

BUGS = ("buffering", "per_turn", "trailing_end", "resume_rewrite", "late_sessions", "split_chunks", "stream_only",
        "any_version", "bad_versions", "suspend_on_mismatch", "code_599")


def reference_app(**options: Any) -> Any:
    """Our SDK serving the test-services contract (``options`` go to ``reference_sdk.app``)."""
    import reference_sdk

    from ..services.impl import build

    return reference_sdk.app(services=build(reference_sdk, private=True), **options)


def _is_invoke(scope: Scope) -> bool:
    return scope.get("type") == "http" and scope.get("method") == "POST" and "/invoke/" in scope.get("path", "")


async def _read_all(receive: Receive) -> bytes:
    body = b""
    for _ in range(1_000_000):
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    return body


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no more messages: like a connection that stays open
        return {"type": "http.disconnect"}

    return receive


def _last_type(chunk: bytes) -> str | None:
    lines = [ln for ln in chunk.split(b"\n") if ln.strip()]
    if not lines:
        return None
    with contextlib.suppress(ValueError):
        obj = json.loads(lines[-1])
        return str(obj.get("type")) if isinstance(obj, dict) else None
    return None


def broken(app: Any, bug: str) -> App:
    """``app`` with ``bug`` (one of :data:`BUGS`)."""
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}")

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if bug == "bad_versions" and scope.get("type") == "http" and scope.get("path", "").endswith("/discover"):
            async def send_manifest(msg: Message) -> None:
                if msg["type"] == "http.response.start":
                    msg = {**msg, "headers": [(k, v) for k, v in msg.get("headers", []) if k.lower() != b"content-length"]}
                elif msg["type"] == "http.response.body" and msg.get("body"):
                    doc = json.loads(msg["body"])
                    doc.update(minProtocolVersion=2, maxProtocolVersion=1)
                    msg = {**msg, "body": json.dumps(doc).encode()}
                await send(msg)

            await app(scope, receive, send_manifest)
            return
        if not _is_invoke(scope) or bug == "bad_versions":
            await app(scope, receive, send)
            return
        if bug == "code_599":
            async def send_599(msg: Message) -> None:
                if msg["type"] == "http.response.body" and b'"type":"error","code":500' in msg.get("body", b""):
                    msg = {**msg, "body": msg["body"].replace(b'"type":"error","code":500', b'"type":"error","code":599')}
                await send(msg)

            await app(scope, receive, send_599)
            return
        if bug == "suspend_on_mismatch":
            suspension = b'{"type":"suspension","awaiting":{"combinator":"first_completed","completion_ids":[1]}}\n'

            async def send_suspension(msg: Message) -> None:
                body = msg.get("body", b"")
                if msg["type"] == "http.response.start":
                    msg = {**msg, "headers": [(k, v) for k, v in msg.get("headers", []) if k.lower() != b"content-length"]}
                elif msg["type"] == "http.response.body" and b'"code":570' in body:
                    lines = [ln for ln in body.split(b"\n") if ln.strip() and b'"code":570' not in ln]
                    msg = {**msg, "body": b"".join(ln + b"\n" for ln in lines) + suspension}
                await send(msg)

            await app(scope, receive, send_suspension)
            return
        if bug == "buffering":
            await app(scope, _replay(await _read_all(receive)), send)
        elif bug == "per_turn":
            await _per_turn(app, scope, receive, send)
        elif bug == "trailing_end":
            async def send_trailing(msg: Message) -> None:
                await send(msg)
                if msg["type"] == "http.response.body" and _last_type(msg.get("body", b"")) == "suspension":
                    await send({"type": "http.response.body", "body": b'{"type":"end"}\n', "more_body": True})

            await app(scope, receive, send_trailing)
        elif bug == "resume_rewrite":
            await app(scope, _rewriting_receive(receive), send)
        elif bug == "late_sessions":
            await _late_sessions(app, scope, receive, send)
        elif bug == "split_chunks":
            async def send_split(msg: Message) -> None:
                body = msg.get("body", b"")
                if msg["type"] == "http.response.body" and len(body) > 2:
                    half = len(body) // 2
                    await send({"type": "http.response.body", "body": body[:half], "more_body": True})
                    await asyncio.sleep(0.05)
                    await send({**msg, "body": body[half:]})
                    return
                await send(msg)

            await app(scope, receive, send_split)
        elif bug == "stream_only":
            headers = dict(scope.get("headers", []))
            if b"content-length" in headers:
                await _read_all(receive)
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"code":400,"message":"streams only"}'})
                return
            await app(scope, receive, send)
        else:  # any_version
            ct = invocation_content_type().encode()
            hs = [(k, ct if k.lower() in (b"content-type", b"accept") else v) for k, v in scope.get("headers", [])]
            await app({**scope, "headers": hs}, receive, send)

    return wrapper


def _rewriting_receive(receive: Receive) -> Receive:
    """Rewrite ``resume_attempt_id`` of every start to the last attempt id this stream saw."""
    last: list[str] = []
    pending = bytearray()

    async def inner() -> Message:
        msg = await receive()
        if msg["type"] != "http.request":
            return msg
        pending.extend(msg.get("body", b""))
        out = bytearray()
        while (nl := pending.find(b"\n")) >= 0:
            line = bytes(pending[: nl + 1])
            del pending[: nl + 1]
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict) and obj.get("type") == "start":
                    if obj.get("resume_attempt_id") is not None and last:
                        obj["resume_attempt_id"] = last[-1]
                    last.append(str(obj.get("attempt_id")))
                    line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
            out += line
        if not msg.get("more_body"):
            out += pending
            pending.clear()
        return {**msg, "body": bytes(out)}

    return inner


async def _per_turn(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Each turn as a buffered request of its own; the response ends only with the request body."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    parts = [p for p in scope["path"].split("/") if p]
    service, handler = parts[-2], parts[-1]
    buf = bytearray()
    eof = False
    started = False

    async def line() -> bytes | None:
        nonlocal eof
        for _ in range(1_000_000):
            nl = buf.find(b"\n")
            if nl >= 0:
                out = bytes(buf[: nl + 1])
                del buf[: nl + 1]
                return out
            if eof:
                return None
            msg = await receive()
            if msg["type"] == "http.disconnect":
                eof = True
                return None
            buf.extend(msg.get("body", b""))
            eof = not msg.get("more_body")
        return None

    for _ in range(1000):
        first = await line()
        if first is None:
            break
        turn = first
        with contextlib.suppress(ValueError):
            st = json.loads(first)
            if isinstance(st, dict) and st.get("type") == "start":
                for _ in range(int(st["journal_length"]) - int(st["resume_from"])):
                    nxt = await line()
                    if nxt is None:
                        break
                    turn += nxt
        resp = await app.invoke(service, handler, headers, turn)
        if not started:
            started = True
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": [(k.encode(), v.encode()) for k, v in resp.headers]})
        await send({"type": "http.response.body", "body": resp.body, "more_body": True})
    if not started:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", invocation_content_type().encode())]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


_EXCHANGE: contextvars.ContextVar[list[tuple[str, str, Any]] | None] = contextvars.ContextVar("exchange", default=None)


class _LateStore:
    """Holds ``put`` back until the exchange that suspended the session has ended."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def put(self, invocation_id: str, attempt_id: str, session: Any) -> None:
        held = _EXCHANGE.get()
        if held is None:
            self.real.put(invocation_id, attempt_id, session)
        else:
            held.append((invocation_id, attempt_id, session))

    def take(self, invocation_id: str, attempt_id: str) -> Any:
        held = _EXCHANGE.get() or []
        for item in held:  # the exchange's own continuation still finds its session
            if item[:2] == (invocation_id, attempt_id):
                held.remove(item)
                return item[2]
        return self.real.take(invocation_id, attempt_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def _late_sessions(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    if not isinstance(app.sessions, _LateStore):
        app.sessions = _LateStore(app.sessions)
    held: list[tuple[str, str, Any]] = []
    token = _EXCHANGE.set(held)
    try:
        await app(scope, receive, send)
    finally:
        _EXCHANGE.reset(token)
        for inv, attempt, session in held:
            app.sessions.real.put(inv, attempt, session)


@contextlib.asynccontextmanager
async def serve_sdk(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with hypercorn on a free loopback port; yield its URL."""
    from hypercorn.asyncio import serve as hyper_serve
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = int(sock.getsockname()[1])
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    stop = asyncio.Event()
    task = asyncio.create_task(hyper_serve(app, config, shutdown_trigger=stop.wait))
    try:
        for _ in range(250):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        sock.close()
