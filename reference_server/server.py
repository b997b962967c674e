"""Run the server: in the current event loop (``Server``) or on a background thread
(``ServerThread``, a context manager for tests, the conformance kit and the fuzzer).

Sockets are bound here, before the HTTP servers start, so that port 0 works and the actual URLs
are known as soon as :meth:`Server.start` returns. The ingress and admin apps are served by
uvicorn's httptools protocol (``http/serve.py``); the event loop is uvloop's when it is
installed (``loop="auto"``), asyncio's otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from .config import ServerConfig
from .http.admin import Admin
from .http.asgi import asgi_app
from .http.ingress import Ingress
from .http.serve import AppServer
from .runtime import Runtime
from .store.sqlite import SqliteStore

log = logging.getLogger("durable.server")

LoopKind = Literal["auto", "asyncio", "uvloop"]
LOOP_KINDS: tuple[LoopKind, ...] = ("auto", "asyncio", "uvloop")


def loop_factory(kind: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop constructor for ``kind``: uvloop's (``auto`` when it is importable, or
    ``uvloop``, which fails when it is not) or asyncio's default."""
    if kind not in LOOP_KINDS:
        raise ValueError(f"unknown event loop {kind!r} (auto, asyncio or uvloop)")
    if kind == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio's transports set
    # TCP_NODELAY only on sockets whose proto says TCP (without it, a response written in two
    # parts waits for the peer's delayed ACK: 40 ms per keep-alive request).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


class Server:
    """``srv = Server(data_dir=..., ingress_port=0, admin_port=0); await srv.start(); ...
    srv.ingress_url; srv.admin_url; await srv.stop()``."""

    def __init__(self, config: ServerConfig | None = None, **overrides: Any) -> None:
        config = config or ServerConfig()
        if "data_dir" in overrides:
            overrides["data_dir"] = Path(overrides["data_dir"])
        self.config = replace(config, **overrides)
        self.runtime: Runtime | None = None
        self.ingress_port = 0
        self.admin_port = 0
        self._shutdown = asyncio.Event()
        self._http: list[AppServer] = []

    @property
    def ingress_url(self) -> str:
        return f"http://{self.config.host}:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.config.host}:{self.admin_port}"

    async def start(self) -> None:
        self._shutdown = asyncio.Event()
        store = SqliteStore(self.config.data_dir / self.config.db_file)
        self.runtime = Runtime(self.config, store)
        await self.runtime.start()
        ingress_sock = _bind(self.config.host, self.config.ingress_port)
        admin_sock = _bind(self.config.host, self.config.admin_port)
        self.ingress_port = ingress_sock.getsockname()[1]
        self.admin_port = admin_sock.getsockname()[1]
        limit = self.config.max_body_bytes
        runtime = self.runtime

        def broken() -> bool:
            return runtime.broken

        apps = (
            (asgi_app(Ingress(runtime), limit, broken), ingress_sock),
            (asgi_app(Admin(runtime), limit, broken), admin_sock),
        )
        for app, sock in apps:
            http = AppServer(app, sock)
            self._http.append(http)
            await http.start()
        log.info("durable server: ingress %s, admin %s", self.ingress_url, self.admin_url)

    async def stop(self) -> None:
        self._shutdown.set()
        if self._http:
            for http in self._http:
                http.request_stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(*(h.wait_stopped() for h in self._http), return_exceptions=True), 5)
            for http in self._http:
                http.cancel()
            self._http = []
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await self._shutdown.wait()
        finally:
            await self.stop()


def quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Python 3.11's stream callback reports connections cancelled at shutdown as errors."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class ServerThread:
    """Run a :class:`Server` on its own thread and event loop.

    ``with ServerThread(data_dir=tmp) as srv: httpx.post(srv.ingress_url + ...)``;
    ``loop``: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``.
    """

    def __init__(self, config: ServerConfig | None = None, loop: LoopKind = "auto",
                 **overrides: Any) -> None:
        self._loop_factory = loop_factory(loop)
        overrides.setdefault("ingress_port", 0)
        overrides.setdefault("admin_port", 0)
        self.server = Server(config, **overrides)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    @property
    def admin_url(self) -> str:
        return self.server.admin_url

    def start(self) -> ServerThread:
        self._thread = threading.Thread(target=self._run, name="durable-server", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError("the server failed to start") from self._error
        if not self._ready.is_set():
            raise RuntimeError("the server did not start within 30 s")
        return self

    def _run(self) -> None:
        loop = self._loop_factory()
        loop.set_exception_handler(quiet_cancellations)
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.server.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
