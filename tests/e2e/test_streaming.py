"""Streaming mode end to end (spec/02 section 2.9): `durable server` and the reference SDK under
hypercorn, as separate processes on loopback. The SDK counts the HTTP exchanges it serves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .stack import ServerProcess, ServiceProcess, register

pytestmark = pytest.mark.e2e


def stats(service: ServiceProcess) -> tuple[int, int]:
    s = httpx.get(f"{service.url}/stats", timeout=10).json()
    return s["exchanges"], s["turns"]


@pytest.mark.parametrize("streaming", [True, False])
def test_one_exchange_per_workflow(tmp_path: Path, streaming: bool) -> None:
    """A 3-step workflow costs one exchange of 4 turns when streaming (WIRE-STREAM-1/4/5), and 4
    exchanges with --no-streaming (WIRE-STREAM-2); a sleep ends the stream and a new exchange
    resumes warm after it (WIRE-STREAM-7)."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log",
                           extra_args=() if streaming else ("--no-streaming",))
    service = ServiceProcess("tests.e2e.apps.streaming:app", log_path=tmp_path / "service.log")
    server.start()
    service.start()
    try:
        r = register(server.admin, service.url)
        assert r.status_code == 201, r.text
        dep = httpx.get(f"{server.admin}/deployments", timeout=10).json()
        assert dep["deployments"][0]["uri"] == service.url
        ingress = httpx.Client(base_url=server.ingress, timeout=60)

        before = stats(service)
        r = ingress.post("/restate/call/ThreeSteps/ann/run", json="ann")
        assert r.status_code == 200 and r.json() == "ann-1-2-3"
        after = stats(service)
        exchanges, turns = after[0] - before[0], after[1] - before[1]
        assert turns == 4  # first turn + one warm resume per ctx.run, none missed
        assert exchanges == (1 if streaming else 4)

        before = stats(service)
        r = ingress.post("/restate/call/NapBetweenSteps/bob/run", json="bob")
        assert r.status_code == 200 and r.json() == "bob-before-after"
        after = stats(service)
        exchanges, turns = after[0] - before[0], after[1] - before[1]
        assert turns == 4  # run, sleep, run, output: every resume warm
        # streaming: the stream ends at the sleep, the timer's wake-up is a new exchange
        assert exchanges == (2 if streaming else 4)

        # many at once: each workflow still gets one exchange (and the results are right)
        before = stats(service)
        sent = [ingress.post(f"/restate/send/ThreeSteps/k{i}/run", json=f"k{i}").json()["invocationId"]
                for i in range(8)]
        for i, inv in enumerate(sent):
            out = ingress.get(f"/restate/attach/{inv}")
            assert out.status_code == 200 and out.json() == f"k{i}-1-2-3"
        after = stats(service)
        assert after[1] - before[1] == 8 * 4
        assert after[0] - before[0] == (8 if streaming else 32)
        ingress.close()
        assert "Traceback" not in service.log()
    finally:
        service.stop()
        server.stop()
