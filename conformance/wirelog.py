"""Record every HTTP exchange a case makes (the Autobahn "wire log"), via httpx event hooks.

The evidence travels with the verdict: a FAIL in ``index.json`` shows the requests and the
answers that led to it, so nobody has to rerun the case to see what the server said.
"""

from __future__ import annotations

import time

import httpx

from .model import WireEntry

MAX_BODY = 2048
_SKIP_HEADERS = {"authorization", "cookie"}


def _text(data: bytes) -> str:
    if len(data) > MAX_BODY:
        return data[:MAX_BODY].decode("utf-8", "replace") + f"... ({len(data)} bytes)"
    return data.decode("utf-8", "replace")


class WireLog:
    def __init__(self) -> None:
        self.entries: list[WireEntry] = []
        self._pending: dict[int, tuple[WireEntry, float]] = {}

    async def on_request(self, request: httpx.Request) -> None:
        try:
            body = request.content
        except httpx.RequestNotRead:  # streamed body
            body = b"<stream>"
        entry = WireEntry(
            method=request.method,
            url=str(request.url),
            request_headers={k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS},
            request_body=_text(body),
        )
        self.entries.append(entry)
        self._pending[id(request)] = (entry, time.monotonic())

    async def on_response(self, response: httpx.Response) -> None:
        found = self._pending.pop(id(response.request), None)
        if found is None:
            return
        entry, started = found
        await response.aread()
        entry.status = response.status_code
        entry.response_headers = dict(response.headers.items())
        entry.response_body = _text(response.content)
        entry.elapsed_ms = (time.monotonic() - started) * 1000

    def client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0),
            event_hooks={"request": [self.on_request], "response": [self.on_response]},
            trust_env=False,
        )
