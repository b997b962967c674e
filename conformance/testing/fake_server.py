"""A tiny in-process *fake* implementation with switchable bugs, to prove the cases can fail.

It is not a durable-execution server: it answers the handful of test-service paths the
selected cases use (Interpreter, Counter, TestUtilsService) by executing them natively in
asyncio. Correct, it passes those cases; with a bug switched on, the cases that check the
broken property must FAIL. The bugs mirror issue 4's "deliberately broken server":

- ``rerun_steps``: a step whose result was acknowledged is executed again (as a server that
  forgets acknowledged run completions and replays would make the SDK do);
- ``no_lock``: two exclusive handlers of one virtual-object key run at the same time;
- ``ignore``: every request is answered ``200 null`` without doing anything.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from durable.asgi import serve_lifespan

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class FakeServer:
    rerun_steps: bool = False
    no_lock: bool = False
    ignore: bool = False
    state: dict[tuple[str, str], dict[str, Any]] = field(default_factory=lambda: collections.defaultdict(dict))
    effects: collections.Counter[str] = field(default_factory=collections.Counter)
    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    ids: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        status, out = await self.handle(scope["method"], scope["path"], body)
        payload = b"" if out is None and status == 200 else json.dumps(out).encode()
        self.ids += 1
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"x-restate-id", f"inv_fake{self.ids}".encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if self.ignore:
            return 200, None
        if path == "/health":
            return 200, {"status": "ok"}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 4 or parts[:2] != ["restate", "call"]:
            return 404, {"code": 404, "message": "not found"}
        service, handler = parts[2], parts[-1]
        key = parts[3] if len(parts) == 5 else ""
        arg = json.loads(body) if body else None
        try:
            return 200, await self.dispatch(service, key, handler, arg)
        except Terminal as e:
            return e.code, {"code": e.code, "message": e.message}
        except KeyError:
            return 404, {"code": 404, "message": f"unknown {service}/{handler}"}

    async def exclusive(self, service: str, key: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        if self.no_lock:
            return await fn()
        lock = self.locks.setdefault((service, key), asyncio.Lock())
        async with lock:
            return await fn()

    async def dispatch(self, service: str, key: str, handler: str, arg: Any) -> Any:
        st = self.state[(service, key)]
        if service == "TestUtilsService":
            if handler == "echo":
                return arg
            if handler == "effects":
                return self.effects[arg]
            if handler == "countExecutedSideEffects":
                tag = str(arg["tag"])

                def bump() -> None:
                    self.effects[tag] += 1

                for _ in range(int(arg["n"])):
                    await self.step(bump)
                return int(arg["n"])
        if service == "Counter":
            if handler == "get":
                return st.get("counter", 0)
            if handler == "add":

                async def add() -> Any:
                    old = st.get("counter", 0)
                    await asyncio.sleep(0.01 * random.random())
                    st["counter"] = old + arg
                    return {"oldValue": old, "newValue": old + arg}

                return await self.exclusive(service, key, add)
        if service == "Interpreter":
            if handler == "get":
                return st.get(arg)
            if handler == "run":
                return await self.exclusive(service, key, lambda: self.interpret(st, arg["commands"]))
        raise KeyError(handler)

    async def step(self, effect: Callable[[], Any]) -> Any:
        result = effect()
        if self.rerun_steps:  # the acknowledged step is executed again on "replay"
            result = effect()
        return result

    async def interpret(self, st: dict[str, Any], commands: list[dict[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for c in commands:
            op = c["op"]
            if op == "set":
                st[c["key"]] = c["value"]
                out.append(None)
            elif op == "get":
                out.append(st.get(c["key"]))
            elif op == "clear":
                st.pop(c["key"], None)
                out.append(None)
            elif op == "clearAll":
                st.clear()
                out.append(None)
            elif op == "keys":
                out.append(sorted(st))
            elif op == "increment":
                st[c["key"]] = int(st.get(c["key"]) or 0) + int(c.get("by", 1))
                out.append(st[c["key"]])
            elif op == "append":
                st[c["key"]] = [*(st.get(c["key"]) or []), c["value"]]
                out.append(st[c["key"]])
            elif op == "run":
                tag = c.get("effect")

                def effect(tag: Any = tag, c: dict[str, Any] = c) -> Any:
                    if tag:
                        self.effects[tag] += 1
                    return c.get("value")

                out.append(await self.step(effect))
            elif op == "sleep":
                await asyncio.sleep(int(c["ms"]) / 1000)
                out.append(None)
            else:
                raise Terminal(400, f"fake server: unsupported op {op}")
        return out


class Terminal(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def serve(app: FakeServer, port: int, stop: asyncio.Event) -> None:
    """Serve ``app`` on 127.0.0.1:port with hypercorn until ``stop`` is set."""
    from hypercorn.asyncio import serve as hyper_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    await hyper_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


class ThreadedServer:
    """Run ``app`` with hypercorn on its own event loop in a daemon thread (for sync tests)."""

    def __init__(self, app: FakeServer) -> None:
        import threading

        from ..stack import free_port, wait_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            self._loop.run_until_complete(serve(app, self.port, self._stop))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        wait_port(self.port, 10)

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
