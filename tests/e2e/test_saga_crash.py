"""A saga's rollback interrupted by a server SIGKILL finishes after the restart: compensations
run in reverse order, each exactly once (the one acknowledged before the crash is not redone)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from .stack import running, wait_until

pytestmark = pytest.mark.e2e


def test_rollback_finishes_after_a_server_crash(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    with running(tmp_path, "tests.e2e.apps.saga:app") as (server, _):
        r = httpx.post(f"{server.ingress}/restate/send/CrashSaga/k1/run", json=str(ledger), timeout=30)
        assert r.status_code == 202, r.text
        inv_id = r.json()["invocationId"]

        def mid_rollback() -> bool:
            status = httpx.get(f"{server.admin}/invocations/{inv_id}", timeout=5).json()["status"]
            return "undo activate" in ledger.read_text() and status == "suspended"

        wait_until(mid_rollback, 30, "the rollback to sleep after its first compensation")
        server.kill(signal.SIGKILL)
        server.start()
        done = httpx.post(
            f"{server.ingress}/restate/attach",
            json={"target": "workflow", "workflowName": "CrashSaga", "workflowKey": "k1"},
            timeout=60,
        )
        assert (done.status_code, done.json()) == (200, False), done.text
    assert ledger.read_text().splitlines() == ["do create", "do activate", "undo activate", "undo create"]
