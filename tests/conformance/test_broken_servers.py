"""The kit catches deliberately broken servers (issue 4, "done when").

A fake implementation (``conformance.testing.fake_server``) passes a set of cases when correct;
each switchable bug must turn the cases that check the broken property into FAIL, and a server
that ignores every request must fail (almost) every case.
"""

from __future__ import annotations

import asyncio

import pytest

from conformance.model import CaseResult, Mode, Verdict
from conformance.registry import all_cases, select
from conformance.runner import run_cases
from conformance.stack import free_port
from conformance.target import Target
from conformance.testing.fake_server import FakeServer, serve

FAKE_CASES = ["RUN-001", "RUN-002", "RUN-009", "ST-001", "ST-007", "OBJ-001", "OBJ-005", "ING-001", "ING-013"]


def run_against(fake: FakeServer, ids: list[str], concurrency: int = 16) -> dict[str, CaseResult]:
    async def main() -> list[CaseResult]:
        port = free_port()
        stop = asyncio.Event()
        server = asyncio.create_task(serve(fake, port, stop))
        try:
            for _ in range(100):
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port}"
            target = Target("fake", url, url)
            return await run_cases(select(ids) if ids else all_cases(), target, Mode.DEFAULT, concurrency)
        finally:
            stop.set()
            await asyncio.wait_for(server, 10)

    return {r.case.id: r for r in asyncio.run(main())}


@pytest.mark.timeout(120)
def test_correct_fake_passes() -> None:
    results = run_against(FakeServer(), FAKE_CASES)
    bad = {k: (r.verdict.value, r.message) for k, r in results.items() if r.verdict is not Verdict.PASS}
    assert not bad, bad


@pytest.mark.timeout(120)
def test_rerunning_acknowledged_steps_is_caught() -> None:
    results = run_against(FakeServer(rerun_steps=True), ["RUN-002", "RUN-009"])
    for cid in ("RUN-002", "RUN-009"):
        assert results[cid].verdict is Verdict.FAIL, (cid, results[cid].message)
        assert "effect executions" in results[cid].message


@pytest.mark.timeout(120)
def test_two_exclusive_handlers_at_once_is_caught() -> None:
    results = run_against(FakeServer(no_lock=True), ["OBJ-001", "OBJ-005"])
    assert results["OBJ-001"].verdict is Verdict.FAIL, results["OBJ-001"].message
    assert "interleaved" in results["OBJ-001"].message
    assert results["OBJ-005"].verdict is Verdict.FAIL, results["OBJ-005"].message


# Cases a server that answers "200 null" to everything may pass: a health check, and cases
# whose only claim is that some request is refused (the ignoring server never refuses).
TRIVIAL = {"ADM-001", "ADM-007"}


@pytest.mark.timeout(300)
def test_ignoring_server_fails_every_case() -> None:
    results = run_against(FakeServer(ignore=True), [], concurrency=64)
    assert len(results) == len(all_cases())
    passed = sorted(k for k, r in results.items() if r.verdict is Verdict.PASS)
    assert set(passed) <= TRIVIAL, passed
    # SKIPPED only: cases for the always-suspend mode, and re-registration (no services URL here).
    skipped = {k for k, r in results.items() if r.verdict is Verdict.SKIPPED}
    assert all(Mode.DEFAULT not in results[k].case.modes or k in ("ADM-004", "ADM-019") for k in skipped), skipped
    assert all(r.wire_log or r.verdict in (Verdict.SKIPPED, Verdict.UNIMPLEMENTED) for r in results.values())
