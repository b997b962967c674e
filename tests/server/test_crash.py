"""SIGKILL the real ``durable server`` in the middle of workflows; nothing acknowledged is
lost, and no acknowledged ``ctx.run`` executes again (checked with an effect ledger)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from .fakesdk import AppThread, build_app

ROOT = Path(__file__).resolve().parents[2]
STEPS = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProc:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.ingress = free_port()
        self.admin = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "durable.cli", "server", "--data-dir", str(self.data_dir),
                "--ingress-port", str(self.ingress), "--admin-port", str(self.admin), "--log-level", "warning"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.admin}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("server did not start: " + self.log.read_text()[-2000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(7)
    ledger = tmp_path / "ledger.txt"
    srv = ServerProc(tmp_path / "data", tmp_path / "server.log")
    accepted: dict[str, str] = {}
    with AppThread(build_app(ledger)) as sdk:
        srv.start()
        try:
            r = httpx.post(f"http://127.0.0.1:{srv.admin}/deployments", json={"uri": sdk.url}, timeout=10)
            assert r.status_code == 201, r.text
            n = 0
            for _round in range(4):
                deadline = time.monotonic() + rng.uniform(0.2, 0.6)
                while time.monotonic() < deadline:
                    key = f"k{n}"
                    n += 1
                    try:
                        r = httpx.post(f"http://127.0.0.1:{srv.ingress}/restate/send/Ledger/{key}/run",
                                       json=STEPS, timeout=5)
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 202:
                        accepted[key] = r.json()["invocationId"]
                srv.kill()
                srv.start()
            client = httpx.Client(base_url=f"http://127.0.0.1:{srv.ingress}", timeout=60)
            for key, inv in accepted.items():
                r = client.get(f"/restate/attach/{inv}")
                assert r.status_code == 200 and r.json() == STEPS, (key, r.status_code, r.text)
            client.close()
        finally:
            srv.stop()
    assert len(accepted) >= 10
    executed: dict[tuple[str, str], int] = defaultdict(int)
    acked: set[tuple[str, str]] = set()
    for line in ledger.read_text().splitlines():
        kind, inv, step = line.split()
        if kind == "executed":
            assert (inv, step) not in acked, f"{inv} {step} ran again after it was acknowledged"
            executed[(inv, step)] += 1
        elif kind == "acked":
            acked.add((inv, step))
    for inv in accepted.values():
        for i in range(STEPS):
            assert executed[(inv, f"step{i}")] >= 1
    print(f"accepted={len(accepted)} steps={len(executed)} re-executed (unacknowledged)="
          f"{sum(1 for v in executed.values() if v > 1)}")


def test_sigkill_while_real_sdk_workflows_sleep_and_wait(tmp_path: Path, monkeypatch: Any) -> None:
    """The real reference SDK: workflows sleeping and waiting on promises survive SIGKILLs."""
    from .sdk_services import app as sdk_app

    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("DURABLE_TEST_LEDGER", str(ledger))
    srv = ServerProc(tmp_path / "data", tmp_path / "server.log")
    keys = [f"w{i}" for i in range(16)]
    with AppThread(sdk_app) as sdk:
        srv.start()
        try:
            assert httpx.post(f"http://127.0.0.1:{srv.admin}/deployments", json={"uri": sdk.url},
                              timeout=10).status_code == 201
            ids = {}
            for key in keys:
                r = httpx.post(f"http://127.0.0.1:{srv.ingress}/restate/send/CrashFlow/{key}/run", timeout=10)
                assert r.status_code == 202
                ids[key] = r.json()["invocationId"]
            time.sleep(0.15)
            srv.kill()  # while the sleeps are pending
            srv.start()
            for i, key in enumerate(keys):
                if i == len(keys) // 2:
                    srv.kill()  # while some wait on their promise
                    srv.start()
                r = httpx.post(f"http://127.0.0.1:{srv.ingress}/restate/call/CrashFlow/{key}/go",
                               json="!", timeout=30)
                assert r.status_code == 200, r.text
            client = httpx.Client(base_url=f"http://127.0.0.1:{srv.ingress}", timeout=60)
            for key, inv in ids.items():
                r = client.get(f"/restate/attach/{inv}")
                assert r.status_code == 200 and r.json() == "ab!", (key, r.text)
            client.close()
        finally:
            srv.stop()
    acked: set[tuple[str, str]] = set()
    executed: dict[tuple[str, str], int] = defaultdict(int)
    for line in ledger.read_text().splitlines():
        kind, key, step = line.split()
        if kind == "executed":
            assert (key, step) not in acked, f"{key} {step} ran again after it was acknowledged"
            executed[(key, step)] += 1
        else:
            acked.add((key, step))
    assert {k for k, _ in executed} == set(keys)
