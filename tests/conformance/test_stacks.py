"""Real stacks: our reference server + services, the SDK half, and (when installed) real Restate."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.stack import Proc, StackError, restate_binary


def durable(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "durable.cli", "conformance", *args], capture_output=True, text=True,
                          timeout=280, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.timeout(300)
def test_reference_stack_both_modes(tmp_path: Path) -> None:
    r = durable("run", "--only", "ING-001", "--only", "RUN-002", "--only", "OBJ-001", "--only", "DET-00[17]",
                "--only", "CRASH-002", "--report", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["implementation"] == "reference"
    assert set(index["summary_by_mode"]) == {"default", "always-suspend"}
    verdicts = {(c["id"], c["mode"]): c["verdict"] for c in index["cases"]}
    assert verdicts[("CRASH-002", "default")] == "PASS"
    assert verdicts[("DET-001", "always-suspend")] == "PASS"
    assert verdicts[("DET-001", "default")] == "SKIPPED"


@pytest.mark.timeout(300)
def test_sdk_half_against_reference_services(tmp_path: Path) -> None:
    r = durable("sdk", "--only", "SDK-0[0-9][013-9]", "--report", str(tmp_path))
    index = json.loads((tmp_path / "index.json").read_text())
    fails = {c["id"]: c["message"] for c in index["cases"] if c["verdict"] == "FAIL"}
    assert not fails, fails
    assert r.returncode == 0


def _restate_available() -> bool:
    if importlib.util.find_spec("restate") is None:
        return False
    if os.environ.get("DURABLE_CONFORMANCE_RESTATE") == "1":
        return True  # allowed to npm-install into the cache
    try:
        restate_binary(install=False)
        return True
    except StackError:
        return False


@pytest.mark.timeout(300)
@pytest.mark.skipif(not _restate_available(), reason="restate-sdk or the cached restate-server 1.7.12 is missing")
def test_restate_target(tmp_path: Path) -> None:
    r = durable("run", "--target", "restate", "--only", "ING-*", "--only", "WF-00[1-3]", "--only", "ST-006",
                "--report", str(tmp_path), "--quiet")
    index = json.loads((tmp_path / "index.json").read_text())
    unexplained = [c["id"] for c in index["cases"] if c["verdict"] == "FAIL" and "profile_reason" not in c]
    assert not unexplained, unexplained
    assert any(c["id"] == "ST-006" and c.get("profile_reason") for c in index["cases"])
    assert r.returncode == 0, r.stdout[-2000:]


def test_stop_kills_what_a_dead_leader_left_behind(tmp_path: Path) -> None:
    """A process whose leader already exited (as hypercorn's supervisor does on a stray signal)
    still takes its group with it on stop: no orphaned worker keeps serving a port."""
    pidfile = tmp_path / "child.pid"
    proc = Proc("leader", ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; exit 0"])
    proc.start(tmp_path)
    assert proc.popen is not None
    proc.popen.wait(10)
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(pidfile.read_text())
    os.kill(child, 0)  # alive: the leader left it behind
    proc.stop()
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the orphaned child survived stop()"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a killed orphan may wait a moment for init to reap it
