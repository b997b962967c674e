"""Cases added for MUST requirements no case cited: they pass against our stack and fail against
an implementation that breaks the requirement.

Server cases run against the in-process reference server with our SDK's test services served
in-process (loopback, free ports); the SDK cases run against ``conformance.testing.broken_sdk``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import reference_server.core.model as model_mod
import reference_server.http.admin as admin_mod
import reference_server.runtime as runtime_mod
from conformance.model import CaseResult, Mode, Verdict
from conformance.registry import select
from conformance.runner import run_cases
from conformance.target import Target
from conformance.testing.broken_sdk import broken, reference_app, serve_sdk
from reference_server.http.ingress import Ingress
from reference_server.server import Server

from .test_streaming import run_sdk, verdicts
from .test_wire import run_wire

SERVER_CASES = ["ING-034", "ADM-021", "ADM-022"]
SDK_CASES = ["SDK-009", "SDK-035", "SDK-036", "SDK-051"]


def run_stack(tmp: Path, ids: list[str], bug: Callable[[], Any] | None = None) -> dict[str, CaseResult]:
    async def main() -> list[CaseResult]:
        srv = Server(data_dir=tmp, ingress_port=0, admin_port=0)
        await srv.start()
        try:
            async with serve_sdk(reference_app()) as url:
                async with httpx.AsyncClient(trust_env=False) as c:
                    r = await c.post(f"{srv.admin_url}/deployments", json={"uri": url, "force": True}, timeout=30)
                    assert r.status_code in (200, 201), r.text
                if bug is not None:
                    bug()
                target = Target("in-process reference", srv.ingress_url, srv.admin_url, url)
                return await run_cases(select(ids), target, Mode.DEFAULT, concurrency=8)
        finally:
            await srv.stop()

    return {r.case.id: r for r in asyncio.run(main())}


@pytest.mark.timeout(120)
def test_reference_passes_the_coverage_cases(tmp_path: Path) -> None:
    results = run_stack(tmp_path, SERVER_CASES)
    verdicts(results, SERVER_CASES, Verdict.PASS)
    results = run_sdk(reference_app(session_idle_seconds=2.0), SDK_CASES, session_idle_s=2.0)
    verdicts(results, SDK_CASES, Verdict.PASS)
    results = run_wire(tmp_path / "wire", ["WIRE-S-094"])
    verdicts(results, ["WIRE-S-094"], Verdict.PASS)


@pytest.mark.timeout(120)
def test_local_naive_times_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def naive(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000).isoformat()  # the bug: local time, no zone

    def bug() -> None:
        monkeypatch.setattr(model_mod, "rfc3339", naive)
        monkeypatch.setattr(admin_mod, "rfc3339", naive)

    results = run_stack(tmp_path, ["ADM-021"], bug=bug)
    verdicts(results, ["ADM-021"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_malformed_json_accepted_as_bytes_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orig = Ingress._input

    def lenient(self: Any, handler: Any, body: bytes, ctype: str) -> Any:
        try:
            return orig(self, handler, body, ctype)
        except Exception:
            return {"value_bytes": base64.b64encode(body).decode()}

    results = run_stack(tmp_path, ["ING-034"], bug=lambda: monkeypatch.setattr(Ingress, "_input", lenient))
    verdicts(results, ["ING-034"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_bad_version_range_is_caught() -> None:
    results = run_sdk(broken(reference_app(), "bad_versions"), ["SDK-009"])
    verdicts(results, ["SDK-009"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_suspending_instead_of_a_mismatch_is_caught() -> None:
    results = run_sdk(broken(reference_app(), "suspend_on_mismatch"), ["SDK-035", "SDK-030"])
    verdicts(results, ["SDK-035", "SDK-030"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_sessions_kept_past_their_bound_are_caught() -> None:
    results = run_sdk(reference_app(session_idle_seconds=300.0), ["SDK-036"], session_idle_s=2.0)
    verdicts(results, ["SDK-036"], Verdict.FAIL)
    results = run_sdk(reference_app(), ["SDK-036"])
    verdicts(results, ["SDK-036"], Verdict.SKIPPED)


@pytest.mark.timeout(120)
def test_code_599_on_the_wire_is_caught() -> None:
    results = run_sdk(broken(reference_app(), "code_599"), ["SDK-051"])
    verdicts(results, ["SDK-051"], Verdict.FAIL)
    assert "ERR-GEN-3" in results["SDK-051"].message


@pytest.mark.timeout(120)
def test_admin_body_breaking_its_schema_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orig = model_mod.Inv.summary

    def summary(self: Any) -> Any:
        out = dict(orig(self))
        out.pop("status", None)  # the bug: a required field missing
        return out

    results = run_stack(tmp_path, ["ADM-022"], bug=lambda: monkeypatch.setattr(model_mod.Inv, "summary", summary))
    verdicts(results, ["ADM-022"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_header_values_in_error_messages_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orig = runtime_mod.discover  # type: ignore[attr-defined]

    async def discover(client: Any, uri: str, headers: dict[str, str]) -> Any:
        try:
            return await orig(client, uri, headers)
        except runtime_mod.DiscoveryError as exc:  # the bug: the request's headers in the message
            raise runtime_mod.DiscoveryError(f"{exc} (sent headers {headers})") from exc

    monkeypatch.setattr(runtime_mod, "discover", discover)
    results = run_wire(tmp_path, ["WIRE-S-094"])
    verdicts(results, ["WIRE-S-094"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_every_path_passes_and_a_missing_path_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_stack(tmp_path / "ok", ["ING-035"])
    verdicts(results, ["ING-035"], Verdict.PASS)
    from reference_server.http.asgi import HttpError

    orig = Ingress.__call__

    async def call(self: Any, req: Any) -> Any:
        if req.segments[:2] == ["restate", "workflow"]:  # the bug: the legacy workflow attach/output paths
            raise HttpError(404, "not found")
        return await orig(self, req)

    results = run_stack(tmp_path / "bug", ["ING-035"], bug=lambda: monkeypatch.setattr(Ingress, "__call__", call))
    verdicts(results, ["ING-035"], Verdict.FAIL)
    assert "/restate/workflow/" in results["ING-035"].message


@pytest.mark.timeout(120)
def test_shared_handlers_queued_behind_run_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_stack(tmp_path / "ok", ["WF-013"])
    verdicts(results, ["WF-013"], Verdict.PASS)
    orig = Ingress._invoke
    started: set[str] = set()

    async def invoke(self: Any, req: Any, mode: str, seg: list[str]) -> Any:
        # the bug: once a workflow's run has started, its shared handlers wait until run has finished
        if seg and seg[0] == "PromiseWorkflow" and len(seg) == 3:
            if seg[2] == "run":
                started.add(seg[1])
            elif seg[1] in started:
                await asyncio.sleep(6.5)
        return await orig(self, req, mode, seg)

    results = run_stack(tmp_path / "bug", ["WF-013"], bug=lambda: monkeypatch.setattr(Ingress, "_invoke", invoke))
    verdicts(results, ["WF-013"], Verdict.FAIL)


@pytest.mark.timeout(120)
def test_results_purged_before_their_retention_ends_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reference_server.core.engine import Engine

    results = run_stack(tmp_path / "ok", ["IDM-015"])
    verdicts(results, ["IDM-015"], Verdict.PASS)
    orig = Engine._retention

    def early(self: Any, inv: Any) -> int:
        return max(1, orig(self, inv) // 5)  # the bug: a fifth of the declared retention

    results = run_stack(tmp_path / "bug", ["IDM-015"], bug=lambda: monkeypatch.setattr(Engine, "_retention", early))
    verdicts(results, ["IDM-015"], Verdict.FAIL)
