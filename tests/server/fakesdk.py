"""A tiny hand-written SDK endpoint speaking the NDJSON protocol, for server tests.

It always replays the full journal (a warm resume gets ``resume_miss``), resolves waits
from any notification in the journal, and suspends on the first wait it cannot resolve.
That is enough to drive the server through every path without depending on reference_sdk.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from durable.asgi import serve_lifespan

CT = "application/vnd.durable.invocation.v1+ndjson"
Json = Any


class Suspend(Exception):
    def __init__(self, awaiting: dict[str, Json]) -> None:
        self.awaiting = awaiting


class Terminal(Exception):
    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Retryable(Exception):
    pass


def _value(entry: Json) -> Json:
    if "failure" in entry:
        raise Terminal(entry["failure"]["message"], entry["failure"]["code"])
    if "value" in entry:
        return entry["value"]
    if "invocation_id" in entry:
        return entry["invocation_id"]
    if "value_bytes" in entry:
        return base64.b64decode(entry["value_bytes"])
    return None


class Ctx:
    def __init__(self, start: Json, entries: list[Json], ledger: Path | None) -> None:
        self.start = start
        self.key = start.get("key")
        self.invocation_id = start["invocation_id"]
        self.commands = [e for e in entries if e["type"] not in ("completion", "signal")]
        self.completions = {e["completion_id"]: e for e in entries if e["type"] == "completion"}
        self.signals = {e["signal_id"]: e for e in entries if e["type"] == "signal"}
        self.input = self.commands[0]["parameter"] if self.commands else {"void": True}
        self.cursor = 1
        self.next_index = start["journal_length"]
        self.next_cid = 1
        self.next_signal = 17
        self.out: list[Json] = []
        self.state: dict[str, Json] = dict(start.get("state") or {})
        self.ledger = ledger

    def _cmd(self, ty: str, **fields: Json) -> Json:
        if self.cursor < len(self.commands):
            c = self.commands[self.cursor]
            self.cursor += 1
            if c["type"] != ty:
                raise Retryable(f"journal mismatch: {c['type']} != {ty}")
            return c
        c = {"type": ty, "index": self.next_index, **fields}
        self.next_index += 1
        self.cursor += 1
        self.out.append(c)
        return c

    def _cid(self) -> int:
        cid = self.next_cid
        self.next_cid += 1
        return cid

    def _wait(self, cid: int) -> Json:
        if cid in self.completions:
            return _value(self.completions[cid])
        if 1 in self.signals:
            raise Terminal("cancelled", 409)
        raise Suspend({"combinator": "first_completed", "completion_ids": [cid]})

    def log(self, line: str) -> None:
        if self.ledger is not None:
            with self.ledger.open("a") as f:
                f.write(line + "\n")

    async def run(self, name: str, fn: Callable[[], Json]) -> Json:
        cid = self._cid()
        self._cmd("run", completion_id=cid, name=name)
        if cid in self.completions:
            self.log(f"acked {self.invocation_id} {name}")
            return _value(self.completions[cid])
        try:
            value = fn()
            result: dict[str, Json] = {"value": value}
        except Terminal as exc:
            result = {"failure": {"code": exc.code, "message": exc.message}}
        self.out.append({"type": "propose_run_completion", "completion_id": cid, **result})
        raise Suspend({"combinator": "first_completed", "completion_ids": [cid]})

    async def sleep(self, ms: int) -> None:
        cid = self._cid()
        self._cmd("sleep", completion_id=cid, wake_up_time_ms=int(time.time() * 1000) + ms)
        self._wait(cid)

    async def get_state(self, name: str) -> Json:
        present = name in self.state
        result = self.state[name] if present else {"void": True}
        c = self._cmd("get_state", key=name, **result)
        return c.get("value")

    async def set_state(self, name: str, value: Json) -> None:
        self._cmd("set_state", key=name, parameter={"value": value})
        self.state[name] = {"value": value}

    async def call(self, service: str, handler: str, arg: Json, key: str | None = None, send: bool = False,
                   delay_ms: int | None = None, idempotency_key: str | None = None) -> Json:
        id_cid = self._cid()
        fields: dict[str, Json] = {"invocation_id_completion_id": id_cid, "service": service,
                                   "handler": handler, "parameter": {"value": arg}}
        if key is not None:
            fields["key"] = key
        if idempotency_key is not None:
            fields["idempotency_key"] = idempotency_key
        if send:
            if delay_ms is not None:
                fields["invoke_time_ms"] = int(time.time() * 1000) + delay_ms
            self._cmd("send", **fields)
            return self._wait(id_cid)
        cid = self._cid()
        self._cmd("call", completion_id=cid, **fields)
        return self._wait(cid)

    async def promise(self, name: str) -> Json:
        cid = self._cid()
        self._cmd("get_promise", completion_id=cid, key=name)
        return self._wait(cid)

    async def peek(self, name: str) -> Json:
        cid = self._cid()
        self._cmd("peek_promise", completion_id=cid, key=name)
        return self._wait(cid)

    async def resolve(self, name: str, value: Json) -> Json:
        cid = self._cid()
        self._cmd("complete_promise", completion_id=cid, key=name, value=value)
        return self._wait(cid)

    def awakeable(self) -> tuple[str, int]:
        sid = self.next_signal
        self.next_signal += 1
        raw = orjson.dumps([self.invocation_id, sid])
        return "awk_" + base64.urlsafe_b64encode(raw).decode().rstrip("="), sid

    async def wait_signal(self, sid: int) -> Json:
        if sid in self.signals:
            return _value(self.signals[sid])
        if 1 in self.signals:
            raise Terminal("cancelled", 409)
        raise Suspend({"combinator": "first_completed", "signal_ids": [sid]})

    async def attach(self, target: dict[str, str]) -> Json:
        cid = self._cid()
        self._cmd("attach_invocation", completion_id=cid, target=target)
        return self._wait(cid)


HandlerFn = Callable[[Ctx, Json], Awaitable[Json]]


class FakeSdk:
    """ASGI app: ``GET /discover`` and ``POST /invoke/{service}/{handler}``."""

    def __init__(self, ledger: Path | None = None) -> None:
        self.services: dict[str, dict[str, Json]] = {}
        self.handlers: dict[tuple[str, str], HandlerFn] = {}
        self.ledger = ledger
        self.requests: list[Json] = []
        self.fail_next: int = 0

    def handler(self, service: str, ty: str, name: str, hty: str | None = None,
                schema: Json = None, **extra: Json) -> Callable[[HandlerFn], HandlerFn]:
        def deco(fn: HandlerFn) -> HandlerFn:
            svc = self.services.setdefault(service, {"name": service, "ty": ty, "handlers": []})
            h: dict[str, Json] = {"name": name, **extra}
            if hty:
                h["ty"] = hty
            if schema is not None:
                h["input"] = {"contentType": "application/json", "jsonSchema": schema}
            svc["handlers"].append(h)
            self.handlers[(service, name)] = fn
            return fn

        return deco

    def manifest(self) -> Json:
        return {"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 1, "maxProtocolVersion": 1,
                "services": list(self.services.values())}

    async def __call__(self, scope: Json, receive: Json, send: Json) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"].strip("/").split("/")
        if path == ["discover"]:
            await _reply(send, 200, orjson.dumps(self.manifest()),
                         "application/vnd.durable.endpointmanifest.v1+json")
            return
        if len(path) != 3 or path[0] != "invoke" or (path[1], path[2]) not in self.handlers:
            await _reply(send, 404, b"not found", "text/plain")
            return
        try:
            lines = [orjson.loads(x) for x in body.splitlines() if x.strip()]
        except orjson.JSONDecodeError:
            lines = []
        if not lines:  # a truncated request (the server died while sending it)
            await _reply(send, 400, b"bad request", "text/plain")
            return
        self.requests.append(lines)
        if self.fail_next > 0:
            self.fail_next -= 1
            await _reply(send, 500, b"injected failure", "text/plain")
            return
        out = await self._invoke(self.handlers[(path[1], path[2])], lines)
        await _reply(send, 200, b"".join(orjson.dumps(m) + b"\n" for m in out), CT)

    async def _invoke(self, fn: HandlerFn, lines: list[Json]) -> list[Json]:
        start, entries = lines[0], lines[1:]
        if start.get("resume_from", 0) > 0:
            return [{"type": "resume_miss"}]
        ctx = Ctx(start, entries, self.ledger)
        try:
            arg = _value(ctx.input) if "void" not in ctx.input else None
            result = await fn(ctx, arg)
            ctx._cmd("output", value=result)
            return [*ctx.out, {"type": "end"}]
        except Suspend as s:
            return [*ctx.out, {"type": "suspension", "awaiting": s.awaiting}]
        except Terminal as t:
            ctx._cmd("output", failure={"code": t.code, "message": t.message})
            return [*ctx.out, {"type": "end"}]
        except Retryable as r:
            return [*ctx.out, {"type": "error", "code": 500, "message": str(r)}]


async def _reply(send: Json, status: int, body: bytes, ctype: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def build_app(ledger: Path | None = None) -> FakeSdk:
    """The services the server tests use."""
    sdk = FakeSdk(ledger)
    attempts: dict[str, int] = {}

    @sdk.handler("Greeter", "SERVICE", "greet")
    async def greet(ctx: Ctx, name: Json) -> Json:
        return f"hello {name}"

    @sdk.handler("Greeter", "SERVICE", "flaky")
    async def flaky(ctx: Ctx, n: Json) -> Json:
        attempts[ctx.invocation_id] = attempts.get(ctx.invocation_id, 0) + 1
        if attempts[ctx.invocation_id] <= int(n):
            raise Retryable("not yet")
        return attempts[ctx.invocation_id]

    @sdk.handler("Greeter", "SERVICE", "boom")
    async def boom(ctx: Ctx, _: Json) -> Json:
        raise Terminal("boom", 418)

    @sdk.handler("Greeter", "SERVICE", "steps")
    async def steps(ctx: Ctx, n: Json) -> Json:
        total = 0
        for i in range(int(n)):
            total += await ctx.run(f"s{i}", lambda i=i: i)  # type: ignore[misc]
        return total

    @sdk.handler("Greeter", "SERVICE", "nap")
    async def nap(ctx: Ctx, ms: Json) -> Json:
        await ctx.sleep(int(ms))
        return "rested"

    @sdk.handler("Greeter", "SERVICE", "callgreet")
    async def callgreet(ctx: Ctx, name: Json) -> Json:
        return await ctx.call("Greeter", "greet", name)

    @sdk.handler("Greeter", "SERVICE", "awake")
    async def awake(ctx: Ctx, _: Json) -> Json:
        awk, sid = ctx.awakeable()
        await ctx.run("publish", lambda: ctx.log(f"awakeable {awk}") or awk)
        return await ctx.wait_signal(sid)

    @sdk.handler("Counter", "VIRTUAL_OBJECT", "add")
    async def add(ctx: Ctx, n: Json) -> Json:
        cur = await ctx.get_state("count") or 0
        await ctx.sleep(5)
        await ctx.set_state("count", cur + int(n))
        return cur + int(n)

    @sdk.handler("Counter", "VIRTUAL_OBJECT", "get", hty="SHARED")
    async def get(ctx: Ctx, _: Json) -> Json:
        return await ctx.get_state("count") or 0

    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}

    @sdk.handler("Flow", "WORKFLOW", "run", hty="WORKFLOW", schema=schema)
    async def flow_run(ctx: Ctx, inp: Json) -> Json:
        await ctx.set_state("status", "started")
        got = await ctx.promise("go")
        await ctx.set_state("status", "done")
        return f"{inp['name']}:{got}"

    @sdk.handler("Flow", "WORKFLOW", "signal", hty="SHARED")
    async def flow_signal(ctx: Ctx, value: Json) -> Json:
        await ctx.resolve("go", value)
        return "ok"

    @sdk.handler("Flow", "WORKFLOW", "status", hty="SHARED")
    async def flow_status(ctx: Ctx, _: Json) -> Json:
        return await ctx.get_state("status")

    @sdk.handler("Ledger", "WORKFLOW", "run", hty="WORKFLOW")
    async def ledger_run(ctx: Ctx, n: Json) -> Json:
        done = []
        for i in range(int(n)):
            name = f"step{i}"
            done.append(await ctx.run(name, lambda name=name: ctx.log(f"executed {ctx.invocation_id} {name}") or name))  # type: ignore[misc]
            if i % 2 == 0:
                await ctx.sleep(20)
        return len(done)

    return sdk


async def serve_in_task(app: Any, port: int = 0) -> tuple[str, asyncio.Event, asyncio.Task[None]]:
    """Serve ``app`` with hypercorn in the current loop; returns (url, stop event, task)."""
    import socket

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cfg = Config()
    cfg.bind = [f"fd://{sock.detach()}"]
    cfg.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, cfg, shutdown_trigger=stop.wait))
    await asyncio.sleep(0.05)
    return url, stop, task


class AppThread:
    """Serve an ASGI app with hypercorn on a background thread (for sync tests)."""

    def __init__(self, app: Any) -> None:
        import threading

        self.app = app
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self.url, self._stop, task = await serve_in_task(self.app)
            self._ready.set()
            await task

        asyncio.run(main())

    def __enter__(self) -> AppThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
