"""What a case gets to work with: an HTTP client bound to the target, and assertion helpers.

Every helper goes through one ``httpx.AsyncClient`` whose hooks fill the case's wire log.
``must`` ends the case with FAIL; ``should`` records a NON-STRICT finding and lets the case go
on, so a case may report several SHOULD findings but ends at the first MUST violation.
Keys are random per case (as in Restate's suite) so cases can run concurrently against one
deployment without seeing each other's state.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .model import CaseFailure, Mode, Strength, Verdict
from .target import Target
from .wirelog import WireLog

T = TypeVar("T")
_NO_BODY = object()


class CaseContext:
    def __init__(self, target: Target, mode: Mode, strength: Strength = Strength.MUST) -> None:
        self.target = target
        self.mode = mode
        self.strength = strength
        self.wire = WireLog()
        self.http = self.wire.client()
        self.findings: list[str] = []
        self.notes: list[str] = []

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ verdict helpers

    def fail(self, message: str) -> CaseFailure:
        verdict = Verdict.FAIL if self.strength is Strength.MUST else Verdict.NON_STRICT
        return CaseFailure(verdict, message)

    def must(self, cond: object, message: str) -> None:
        if not cond:
            raise self.fail(message)

    def should(self, cond: object, message: str) -> None:
        if not cond:
            self.findings.append(message)

    def skip(self, reason: str) -> CaseFailure:
        return CaseFailure(Verdict.SKIPPED, reason)

    def must_eq(self, actual: object, expected: object, what: str) -> None:
        if actual != expected:
            raise self.fail(f"{what}: expected {expected!r}, got {actual!r}")

    def note(self, message: str) -> None:
        self.notes.append(message)

    @staticmethod
    def uid(prefix: str = "k") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    # ------------------------------------------------------------------ ingress

    @staticmethod
    def _path(service: str, handler: str, key: str | None) -> str:
        parts = [quote(service, safe="")]
        if key is not None:
            parts.append(quote(key, safe=""))
        parts.append(quote(handler, safe=""))
        return "/".join(parts)

    def _body(self, body: Any, raw: bytes | None) -> tuple[bytes | None, dict[str, str]]:
        if raw is not None:
            return raw, {"content-type": "application/octet-stream"}
        if body is _NO_BODY:
            return None, {}
        return json.dumps(body).encode(), {"content-type": "application/json"}

    async def call(
        self,
        service: str,
        handler: str,
        body: Any = _NO_BODY,
        *,
        key: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        legacy: bool = False,
        timeout: float | httpx.Timeout = 30.0,
    ) -> httpx.Response:
        content, hdrs = self._body(body, raw)
        hdrs.update(headers or {})
        if idempotency_key is not None:
            hdrs["idempotency-key"] = idempotency_key
        path = self._path(service, handler, key)
        url = f"{self.target.ingress}/{path}" if legacy else f"{self.target.ingress}/restate/call/{path}"
        return await self.http.post(url, content=content, headers=hdrs, timeout=timeout)

    async def send(
        self,
        service: str,
        handler: str,
        body: Any = _NO_BODY,
        *,
        key: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        delay: str | None = None,
        legacy: bool = False,
    ) -> httpx.Response:
        content, hdrs = self._body(body, raw)
        hdrs.update(headers or {})
        if idempotency_key is not None:
            hdrs["idempotency-key"] = idempotency_key
        path = self._path(service, handler, key)
        url = f"{self.target.ingress}/{path}/send" if legacy else f"{self.target.ingress}/restate/send/{path}"
        params = {"delay": delay} if delay else None
        return await self.http.post(url, content=content, headers=hdrs, params=params)

    async def call_ok(self, service: str, handler: str, body: Any = _NO_BODY, **kw: Any) -> Any:
        """Call and require a 2xx JSON answer; returns the decoded body (None when empty)."""
        r = await self.call(service, handler, body, **kw)
        self.must(r.status_code == 200, f"{service}/{handler}: expected 200, got {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    async def send_ok(self, service: str, handler: str, body: Any = _NO_BODY, **kw: Any) -> str:
        """Send and require 202 with an invocation id; returns the id."""
        r = await self.send(service, handler, body, **kw)
        self.must(r.status_code == 202, f"send {service}/{handler}: expected 202, got {r.status_code} {r.text[:300]}")
        inv = r.json().get("invocationId")
        self.must(isinstance(inv, str) and inv, f"send answer lacks invocationId: {r.text[:300]}")
        return str(inv)

    async def attach(self, invocation_id: str, timeout: float = 30.0) -> httpx.Response:
        return await self.http.get(
            f"{self.target.ingress}/restate/attach/{quote(invocation_id, safe='')}", timeout=timeout
        )

    async def output(self, invocation_id: str) -> httpx.Response:
        return await self.http.get(f"{self.target.ingress}/restate/output/{quote(invocation_id, safe='')}")

    async def attach_target(self, target: dict[str, Any], timeout: float = 30.0) -> httpx.Response:
        return await self.http.post(f"{self.target.ingress}/restate/attach", json=target, timeout=timeout)

    async def output_target(self, target: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"{self.target.ingress}/restate/output", json=target)

    async def resolve_awakeable(self, awakeable_id: str, value: Any) -> httpx.Response:
        return await self.http.post(
            f"{self.target.ingress}/restate/awakeables/{quote(awakeable_id, safe='')}/resolve",
            content=json.dumps(value).encode(),
            headers={"content-type": "application/json"},
        )

    async def reject_awakeable(self, awakeable_id: str, message: str) -> httpx.Response:
        return await self.http.post(
            f"{self.target.ingress}/restate/awakeables/{quote(awakeable_id, safe='')}/reject",
            content=message.encode(),
            headers={"content-type": "text/plain"},
        )

    # ------------------------------------------------------------------ admin

    async def cancel(self, invocation_id: str) -> httpx.Response:
        return await self.http.patch(f"{self.target.admin}/invocations/{quote(invocation_id, safe='')}/cancel")

    async def kill(self, invocation_id: str) -> httpx.Response:
        return await self.http.patch(f"{self.target.admin}/invocations/{quote(invocation_id, safe='')}/kill")

    async def admin_get(self, path: str) -> httpx.Response:
        return await self.http.get(f"{self.target.admin}{path}")

    async def admin_post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"{self.target.admin}{path}", json=body)

    # ------------------------------------------------------------------ test services

    async def interpret(self, key: str, commands: list[dict[str, Any]], **kw: Any) -> httpx.Response:
        return await self.call("Interpreter", "run", {"commands": commands}, key=key, **kw)

    async def interpret_ok(self, key: str, commands: list[dict[str, Any]], **kw: Any) -> list[Any]:
        out = await self.call_ok("Interpreter", "run", {"commands": commands}, key=key, **kw)
        self.must(isinstance(out, list), f"Interpreter/run must answer a list, got {out!r}")
        return list(out)

    async def effects(self, tag: str) -> int:
        n = await self.call_ok("TestUtilsService", "effects", tag)
        self.must(isinstance(n, int), f"TestUtilsService/effects must answer an int, got {n!r}")
        return int(n)

    async def wait_awakeable(self, holder: str, timeout: float = 15.0) -> str:
        """Poll AwakeableHolder/{holder}/getAwakeable until the service handed it an id."""

        async def get() -> Any:
            return await self.call_ok("AwakeableHolder", "getAwakeable", key=holder)

        aid = await self.eventually(get, lambda v: isinstance(v, str) and bool(v), timeout, f"awakeable held by {holder}")
        return str(aid)

    # ------------------------------------------------------------------ time

    async def eventually(
        self,
        probe: Callable[[], Awaitable[T]],
        pred: Callable[[T], bool],
        timeout: float = 15.0,
        what: str = "condition",
        interval: float = 0.05,
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            last = await probe()
            if pred(last):
                return last
            if time.monotonic() >= deadline:
                raise self.fail(f"{what} not reached within {timeout}s (last value {last!r})")
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.5)

    async def stays(
        self,
        probe: Callable[[], Awaitable[T]],
        pred: Callable[[T], bool],
        duration: float,
        what: str,
    ) -> None:
        """Require ``pred`` to hold for ``duration`` seconds (bounded polling)."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            v = await probe()
            if not pred(v):
                raise self.fail(f"{what} (value {v!r})")
            await asyncio.sleep(0.1)
