"""The server wire half (``conformance/wire``, WIRE-S-*): passes against our server, catches bugs.

The reference server runs in-process (port 0, loopback); each "broken" variant injects one bug
into that running server (journal slices with an entry missing, run proposals dropped instead
of stored before the next attempt, attempts started before their batch is committed,
next_retry_delay_ms ignored, invalid responses appended) and the cases that check the broken
property must FAIL. A server that ignores every request fails every WIRE-S case too
(``test_broken_servers.test_ignoring_server_fails_every_case`` runs all registered cases).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import reference_server.core.engine as engine_mod
from conformance import profile
from conformance.model import CaseResult, Mode, Verdict
from conformance.registry import all_cases, select
from conformance.report import load_requirements, unknown_citations
from conformance.runner import run_case, run_cases
from conformance.target import Target
from durable.protocol.messages import ErrorMessage, ProposeRunCompletionMessage
from reference_server.core.effects import Invoke
from reference_server.runtime import Runtime
from reference_server.server import Server

Bug = Callable[[Runtime], None]


def run_wire(tmp: Path, ids: list[str], mode: Mode = Mode.DEFAULT, bug: Bug | None = None) -> dict[str, CaseResult]:
    async def main() -> list[CaseResult]:
        srv = Server(data_dir=tmp, ingress_port=0, admin_port=0, always_suspend=mode is Mode.ALWAYS_SUSPEND)
        await srv.start()
        try:
            assert srv.runtime is not None
            if bug is not None:
                bug(srv.runtime)
            target = Target("in-process reference", srv.ingress_url, srv.admin_url)
            return await run_cases(select(ids), target, mode, concurrency=24)
        finally:
            await srv.stop()

    return {r.case.id: r for r in asyncio.run(main())}


def failed(results: dict[str, CaseResult], ids: list[str]) -> None:
    for cid in ids:
        assert results[cid].verdict is Verdict.FAIL, (cid, results[cid].verdict, results[cid].message)


# ---------------------------------------------------------------------- injected bugs


def partial_journal(rt: Runtime) -> None:
    """Full-journal requests lose their last entry (a server reading a stale journal)."""
    orig = rt._turn_part

    async def turn_part(effect: Invoke) -> tuple[bytes, float]:
        part, timeout = await orig(effect)
        lines = part.split(b"\n")[:-1]
        if len(lines) > 2:
            part = b"\n".join(lines[:-1]) + b"\n"
        return part, timeout

    rt._turn_part = turn_part  # type: ignore[method-assign]


def _filter_responses(rt: Runtime, f: Callable[[list[Any]], list[Any]]) -> None:
    orig = rt.engine.on_response

    def on_response(inv_id: str, attempt: str, msgs: list[Any], *a: Any, **kw: Any) -> Any:
        return orig(inv_id, attempt, f(msgs), *a, **kw)

    rt.engine.on_response = on_response  # type: ignore[method-assign]


def drops_proposals(rt: Runtime) -> None:
    """Run proposals are not stored: the invocation resumes (or not) without their completion."""
    _filter_responses(rt, lambda msgs: [m for m in msgs if not isinstance(m, ProposeRunCompletionMessage)])


def ignores_retry_delay(rt: Runtime) -> None:
    _filter_responses(rt, lambda msgs: [dataclasses.replace(m, next_retry_delay_ms=None)
                                         if isinstance(m, ErrorMessage) else m for m in msgs])


# ---------------------------------------------------------------------- tests


def test_wire_cases_are_many_cited_and_declared() -> None:
    cases = [c for c in all_cases() if c.id.startswith("WIRE-S-")]
    assert len(cases) >= 30
    assert all("wire.durable_v1" in c.capabilities for c in cases)
    reqs = load_requirements()
    assert not unknown_citations(cases, reqs)
    cited = {r for c in cases for r in c.requirements}
    assert {"WIRE-REQ-2", "WIRE-RESP-9", "WIRE-WARM-7", "JRN-RETRY-2", "JRN-RETRY-5", "DISC-REQ-1",
            "WIRE-HTTP-9", "WIRE-NEG-5", "WIRE-WARM-8"} <= cited


def test_restate_profile_reports_wire_cases_unimplemented() -> None:
    prof = profile.load("restate")
    target = Target("restate", "http://127.0.0.1:9", "http://127.0.0.1:9", None, prof.capabilities,
                    prof.differences, None, prof.lacks_reasons)
    r = asyncio.run(run_case(select(["WIRE-S-001"])[0], target, Mode.DEFAULT))
    assert r.verdict is Verdict.UNIMPLEMENTED
    assert "NDJSON" in r.message


@pytest.mark.timeout(120)
def test_reference_server_passes_wire_cases_default(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-*"])
    bad = {k: (r.verdict.value, r.message) for k, r in results.items()
           if r.verdict not in (Verdict.PASS, Verdict.SKIPPED)}
    assert not bad, bad
    assert results["WIRE-S-025"].verdict is Verdict.PASS
    assert results["WIRE-S-027"].verdict is Verdict.SKIPPED  # always-suspend only


@pytest.mark.timeout(60)
def test_reference_server_passes_always_suspend_cases(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-027", "WIRE-S-021", "WIRE-S-023", "WIRE-S-025"], Mode.ALWAYS_SUSPEND)
    assert results["WIRE-S-027"].verdict is Verdict.PASS, results["WIRE-S-027"].message
    assert results["WIRE-S-021"].verdict is Verdict.PASS, results["WIRE-S-021"].message
    assert results["WIRE-S-025"].verdict is Verdict.SKIPPED


@pytest.mark.timeout(60)
def test_partial_journal_is_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-020", "WIRE-S-021", "WIRE-S-022"], bug=partial_journal)
    failed(results, ["WIRE-S-020", "WIRE-S-022"])
    assert "WIRE-REQ-2" in results["WIRE-S-020"].message


@pytest.mark.timeout(60)
def test_dropped_run_proposals_are_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-016", "WIRE-S-021", "WIRE-S-059"], bug=drops_proposals)
    failed(results, ["WIRE-S-016", "WIRE-S-021", "WIRE-S-059"])


@pytest.mark.timeout(60)
def test_ignored_next_retry_delay_is_caught(tmp_path: Path) -> None:
    results = run_wire(tmp_path, ["WIRE-S-014", "WIRE-S-012"], bug=ignores_retry_delay)
    failed(results, ["WIRE-S-014"])
    assert results["WIRE-S-012"].verdict is Verdict.PASS


@pytest.mark.timeout(60)
def test_appending_invalid_responses_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "validate_response", lambda inv, msgs: None)
    ids = ["WIRE-S-037", "WIRE-S-039", "WIRE-S-042", "WIRE-S-043"]
    results = run_wire(tmp_path, ids)
    failed(results, ids)


def resumes_before_commit(rt: Runtime) -> None:
    """Attempts start before the batch that led to them is durable (no fsync before resume):
    commits are slow, and Invoke effects are carried out without waiting for them."""
    orig_commit = rt.store.commit
    orig_settle = rt._settle

    async def slow_commit(batch: Any) -> Any:
        await asyncio.sleep(0.05)
        return await orig_commit(batch)

    async def settle(effects: list[Any]) -> None:
        invokes = [e for e in effects if isinstance(e, Invoke)]
        for e in invokes:
            rt._spawn(rt._attempt(e))
        await orig_settle([e for e in effects if not isinstance(e, Invoke)])

    rt.store.commit = slow_commit  # type: ignore[method-assign,assignment]
    rt._settle = settle  # type: ignore[method-assign]


@pytest.mark.timeout(60)
def test_resuming_before_the_commit_is_caught(tmp_path: Path) -> None:
    # Our runtime refuses to send a journal it cannot read back yet, so the early attempt fails
    # without a request: the kit sees failed attempts that never happened (retry_count > 0).
    results = run_wire(tmp_path, ["WIRE-S-016", "WIRE-S-059"], bug=resumes_before_commit)
    failed(results, ["WIRE-S-016", "WIRE-S-059"])
