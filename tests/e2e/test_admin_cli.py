"""The admin CLI against a real server: register, list, describe, state, cancel, kill, purge.

Each command is run as a user runs it (``durable ...`` in a subprocess, ``--admin URL``), in
table form and with ``--json``; errors must come back as the server's message with exit code 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .stack import ServerProcess, ServiceProcess, running, wait_until

pytestmark = pytest.mark.e2e

USER = {"name": "Eve", "email": "eve@mail.com"}


def durable(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "durable.cli", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServiceProcess]]:
    with running(tmp_path_factory.mktemp("cli")) as procs:
        yield procs


def test_deployments_and_services(stack: tuple[ServerProcess, ServiceProcess]) -> None:
    server, service = stack
    again = durable("deployments", "register", service.url, "--admin", server.admin, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"].startswith("dp_")
    listed = durable("deployments", "list", "--admin", server.admin)
    assert listed.returncode == 0 and service.url in listed.stdout
    services = durable("services", "list", "--admin", server.admin, "--json")
    names = {s["name"] for s in json.loads(services.stdout)["services"]}
    assert {"SignupWorkflow", "SignupWithSignalsWorkflow", "UserService"} <= names


def test_cancel_a_waiting_workflow_from_the_cli(stack: tuple[ServerProcess, ServiceProcess]) -> None:
    server, _ = stack
    r = httpx.post(f"{server.ingress}/restate/send/SignupWithSignalsWorkflow/cli-eve/run", json=USER, timeout=30)
    inv_id = r.json()["invocationId"]

    def suspended() -> bool:
        out = durable("invocations", "describe", inv_id, "--admin", server.admin, "--json")
        return out.returncode == 0 and json.loads(out.stdout)["status"] == "suspended"

    wait_until(suspended, 30, "the workflow to wait on its promise", interval=0.3)
    table = durable("invocations", "list", "--admin", server.admin, "--service", "SignupWithSignalsWorkflow")
    assert inv_id in table.stdout and "suspended" in table.stdout
    cancel = durable("invocations", "cancel", inv_id, "--admin", server.admin)
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    done = httpx.post(
        f"{server.ingress}/restate/attach",
        json={"target": "workflow", "workflowName": "SignupWithSignalsWorkflow", "workflowKey": "cli-eve"},
        timeout=30,
    )
    assert done.status_code == 409, done.text
    again = durable("invocations", "cancel", inv_id, "--admin", server.admin)
    assert again.returncode == 1, "cancelling a completed invocation must fail (409)"
    purge = durable("invocations", "purge", inv_id, "--admin", server.admin)
    assert purge.returncode == 0, purge.stdout
    gone = durable("invocations", "describe", inv_id, "--admin", server.admin)
    assert gone.returncode == 1 and "404" in gone.stdout


def test_kill_and_state(stack: tuple[ServerProcess, ServiceProcess]) -> None:
    server, _ = stack
    ok = httpx.post(f"{server.ingress}/restate/call/SignupWithQueriesWorkflow/cli-jane/run", json=USER, timeout=30)
    assert ok.status_code == 200, ok.text
    state = durable("state", "get", "SignupWithQueriesWorkflow", "cli-jane", "--admin", server.admin, "--json")
    assert state.returncode == 0, state.stdout
    assert "created" in state.stdout
    r = httpx.post(f"{server.ingress}/restate/send/SignupWithSignalsWorkflow/cli-kill/run", json=USER, timeout=30)
    inv_id = r.json()["invocationId"]
    kill = durable("invocations", "kill", inv_id, "--admin", server.admin)
    assert kill.returncode == 0, kill.stdout
    wait_until(
        lambda: json.loads(durable("invocations", "describe", inv_id, "--admin", server.admin, "--json").stdout)[
            "status"
        ] == "completed",
        30,
        "the killed invocation to complete",
    )


def test_unknown_invocation_and_unreachable_admin(tmp_path: Path, stack: tuple[ServerProcess, ServiceProcess]) -> None:
    server, _ = stack
    missing = durable("invocations", "cancel", "inv_1doesnotexist1", "--admin", server.admin)
    assert missing.returncode == 1 and "404" in missing.stdout
    down = durable("services", "list", "--admin", "http://127.0.0.1:9")
    assert down.returncode == 2 and "cannot reach" in down.stdout
