"""An in-process stack for the UI tests: reference server, the UI in front of its admin API,
and the tour's services (``examples.tour``, plus tests/ui/services.py), all on one event loop on a
background thread.

Why in-process: the UI is mounted exactly as the admin port will serve it
(``reference_ui.mount`` around the real admin ASGI app) without touching reference_server/,
and a single loop needs no subprocess bookkeeping. If the admin port already serves the UI
(the wiring is in), the tests use it directly. Ports are free ones chosen at bind time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config

import reference_ui
from reference_server.http.admin import Admin
from reference_server.http.asgi import asgi_app
from reference_server.server import Server


def _bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class UiStack:
    """``with UiStack(tmp) as s: s.ui_url, s.ingress_url, s.admin_url``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ui_url = ""
        self.ingress_url = ""
        self.admin_url = ""
        self.sdk_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    async def _serve(self, app: Any, stop: asyncio.Event) -> tuple[str, asyncio.Task[None]]:
        sock = _bound_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        cfg = Config()
        cfg.bind = [f"fd://{sock.detach()}"]
        cfg.accesslog = None
        cfg.graceful_timeout = 1.0
        return url, asyncio.create_task(serve(app, cfg, shutdown_trigger=stop.wait))

    async def _main(self) -> None:
        from .services import app as tour_app

        stop = asyncio.Event()
        self._stop = stop
        server = Server(data_dir=self.data_dir, ingress_port=0, admin_port=0)
        await server.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            assert server.runtime is not None
            self.ingress_url, self.admin_url = server.ingress_url, server.admin_url
            admin = asgi_app(Admin(server.runtime), server.config.max_body_bytes)
            self.ui_url, ui_task = await self._serve(reference_ui.mount(admin), stop)
            self.sdk_url, sdk_task = await self._serve(tour_app, stop)
            tasks = [ui_task, sdk_task]
            await asyncio.sleep(0.05)
            self._ready.set()
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
            await server.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def __enter__(self) -> UiStack:
        self._thread = threading.Thread(target=self._run, name="ui-stack", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError("the UI test stack did not start") from self._error
        if _admin_serves_ui(self.admin_url):
            self.ui_url = self.admin_url  # the real wiring is in: test it instead of ours
        r = httpx.post(f"{self.admin_url}/deployments", json={"uri": self.sdk_url}, timeout=30)
        r.raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)

    # helpers for the tests
    def call(self, path: str, body: Any, timeout: float = 30) -> httpx.Response:
        return httpx.post(f"{self.ingress_url}/restate/call/{path}", json=body, timeout=timeout)

    def send(self, path: str, body: Any) -> str:
        r = httpx.post(f"{self.ingress_url}/restate/send/{path}", json=body, timeout=30)
        r.raise_for_status()
        return str(r.json()["invocationId"])

    def invocation(self, inv_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.admin_url}/invocations/{inv_id}", timeout=10)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def find(self, target: str) -> dict[str, Any]:
        r = httpx.get(f"{self.admin_url}/invocations", params={"limit": "1000"}, timeout=10)
        r.raise_for_status()
        for inv in r.json()["invocations"]:
            if inv["target"] == target:
                found: dict[str, Any] = inv
                return found
        raise LookupError(target)


def _admin_serves_ui(admin_url: str) -> bool:
    try:
        r = httpx.get(f"{admin_url}/", timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.headers.get("content-type", "").startswith("text/html")
