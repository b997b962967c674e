"""The tour under crashes: SIGKILL the server (and the service) while workflows sleep or wait on
durable promises; after restart they finish, timers still fire, and no acknowledged step runs
again (each verification email is sent exactly once)."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from durable.protocol.audit import summarise

from .stack import ServerProcess, ServiceProcess, running, wait_until

pytestmark = pytest.mark.e2e

USER = {"name": "John Doe", "email": "john@mail.com"}


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServiceProcess]]:
    with running(tmp_path, "examples.tour:app") as procs:
        yield procs


def emails(service: ServiceProcess, workflow: str, key: str) -> list[str]:
    pattern = rf"curl localhost:8080/restate/call/{workflow}/{key}/verifyEmail --json '[^']*'"
    return re.findall(pattern, service.log())


def status(server: ServerProcess, workflow: str, key: str) -> str:
    r = httpx.get(f"{server.admin}/invocations", params={"service": workflow, "key": key}, timeout=10)
    invs = r.json()["invocations"]
    return str(invs[0]["status"]) if invs else "none"


def test_server_sigkill_while_waiting(stack: tuple[ServerProcess, ServiceProcess]) -> None:
    server, service = stack
    keys = [f"k{i}" for i in range(4)]
    for wf in ("SignupWithSignalsWorkflow", "SignupWithTimersWorkflow"):
        for k in keys:
            r = httpx.post(f"{server.ingress}/restate/send/{wf}/{k}/run", json=USER, timeout=30)
            assert r.status_code == 202, r.text
    for wf in ("SignupWithSignalsWorkflow", "SignupWithTimersWorkflow"):
        for k in keys:
            wait_until(lambda wf=wf, k=k: status(server, wf, k) == "suspended", 30, f"{wf}/{k} suspended")
    before = {(wf, k): emails(service, wf, k) for wf in ("SignupWithSignalsWorkflow",) for k in keys}
    assert all(len(v) == 1 for v in before.values()), before

    server.kill(signal.SIGKILL)
    service.kill(signal.SIGKILL)  # "try killing the service and restarting it"
    service.start()
    server.start()

    # the 15 s reminder timers were persisted: they fire after the restart
    wait_until(
        lambda: all(len(emails(service, "SignupWithTimersWorkflow", k)) >= 2 for k in keys),
        40,
        "a reminder for every timers workflow after the restart",
        interval=0.5,
    )
    for wf in ("SignupWithSignalsWorkflow", "SignupWithTimersWorkflow"):
        for k in keys:
            cmd = emails(service, wf, k)[0]
            secret = re.search(r'"secret": "([^"]+)"', cmd)
            assert secret is not None
            v = httpx.post(f"{server.ingress}/restate/call/{wf}/{k}/verifyEmail", json={"secret": secret.group(1)}, timeout=30)
            assert v.status_code == 200, v.text
            done = httpx.post(
                f"{server.ingress}/restate/attach",
                json={"target": "workflow", "workflowName": wf, "workflowKey": k},
                timeout=60,
            )
            assert (done.status_code, done.json()) == (200, True), done.text
    # the acknowledged "verify" step never ran again
    time.sleep(0.5)
    for k in keys:
        assert len(emails(service, "SignupWithSignalsWorkflow", k)) == 1
    types, violations = summarise(server.data_dir.parent / "wire-audit")
    assert violations == [], violations[:3]
    assert types["start"] > 0 and types["suspension"] > 0
