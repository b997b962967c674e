"""Real-process test stack: `durable server` + an SDK endpoint under hypercorn, on loopback.

Ports are chosen free at run time; every wait is bounded. Used by the end-to-end tests that
exercise the system the way a user does (subprocesses, HTTP, curl).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


WIRE_AUDIT_ENV = "DURABLE_WIRE_AUDIT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class _Child:
    """A child process owned by a test: SIGKILL-able and stoppable (TERM, then KILL)."""

    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
            self.proc = None


@dataclass
class ServerProcess(_Child):
    data_dir: Path
    log_path: Path
    ingress_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()

    @property
    def ingress(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "durable.cli", "server",
                "--data-dir", str(self.data_dir),
                "--ingress-port", str(self.ingress_port),
                "--admin-port", str(self.admin_port),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", WIRE_AUDIT_ENV: str(self.data_dir.parent / "wire-audit")},
        )
        wait_until(lambda: httpx.get(f"{self.admin}/health", timeout=1).status_code == 200, 30, "admin health")
        wait_until(lambda: httpx.get(f"{self.ingress}/restate/health", timeout=1).status_code == 200, 30, "ingress health")



@dataclass
class ServiceProcess(_Child):
    """hypercorn serving an ASGI app (``module:attr``) with stdout captured to a log file."""

    app: str
    log_path: Path
    port: int = field(default_factory=free_port)
    pythonpath: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", WIRE_AUDIT_ENV: str(self.log_path.parent / "wire-audit")}
        if self.pythonpath is not None:
            env["PYTHONPATH"] = f"{self.pythonpath}{os.pathsep}{env.get('PYTHONPATH', '')}"
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", self.app, "--bind", f"127.0.0.1:{self.port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.pythonpath or REPO,
            env=env,
        )
        wait_until(lambda: httpx.get(f"{self.url}/discover", timeout=1).status_code < 500, 30, "SDK endpoint")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")



@contextlib.contextmanager
def running(tmp: Path, app: str = "examples.tour:app") -> Iterator[tuple[ServerProcess, ServiceProcess]]:
    """`durable server` + hypercorn serving ``app``, registered; stopped on exit."""
    server = ServerProcess(data_dir=tmp / "data", log_path=tmp / "server.log")
    service = ServiceProcess(app, log_path=tmp / "service.log")
    server.start()
    service.start()
    try:
        r = register(server.admin, service.url)
        assert r.status_code == 201, r.text
        yield server, service
    finally:
        service.stop()
        server.stop()


def register(admin: str, uri: str) -> httpx.Response:
    return httpx.post(f"{admin}/deployments", json={"uri": uri}, timeout=30)


def copy_examples(dest: Path) -> Path:
    """A private copy of the examples package (so a test can edit it as the tour tells users to)."""
    shutil.copytree(REPO / "examples", dest / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def seed_commands() -> list[str]:
    """Every curl command of the seed tour's Python tab (and tab-less blocks), in document order."""
    text = (REPO.parent / "shared" / "seed" / "tour-of-workflows.md").read_text()
    tabs = [(m.start(), m.end(), m.group(1)) for m in re.finditer(r'<Tab title="([^"]+)">.*?</Tab>', text, re.S)]
    out: list[str] = []
    for b in re.finditer(r"```bash[^\n]*\n(.*?)```", text, re.S):
        inside = [t for t in tabs if t[0] <= b.start() < t[1]]
        if inside and inside[-1][2] != "Python":
            continue
        cmd = b.group(1).strip()
        if cmd.startswith("curl"):
            out.append(re.sub(r"\\\n\s*", "", cmd))
    return out
