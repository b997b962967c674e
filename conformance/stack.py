"""Start what the kit tests: test services, the real Restate server, our reference server.

Everything binds to 127.0.0.1 on ports chosen at run time, and every process is started by
the kit and stopped by the kit (by its own pid). The Restate binary comes from npm, installed
once into a cache directory (``.cache/restate`` under the working directory by default, or
``$DURABLE_CONFORMANCE_CACHE``) so repeated runs and CI reuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

RESTATE_VERSION = "1.7.12"
RESTATE_NPM = f"@restatedev/restate-server@{RESTATE_VERSION}"


class StackError(RuntimeError):
    pass


_rng = random.Random()


def free_port() -> int:
    """A free loopback port *below* the ephemeral range (32768+).

    Crash cases restart a server on its old port; a port from the ephemeral range could be handed
    to someone else's outgoing connection or free-port probe in the meantime, one below it cannot.
    """
    for _ in range(200):
        port = _rng.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"process exited with {proc.returncode} while waiting for {url}")
        try:
            r = httpx.get(url, timeout=2.0, trust_env=False)
            if r.status_code < 500:
                return
            last = f"status {r.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise StackError(f"{url} not ready within {timeout}s ({last})")


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"process exited with {proc.returncode} while waiting for port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise StackError(f"port {port} not open within {timeout}s")


@dataclass
class Proc:
    """A child process the kit owns; logs go to a file in its work directory."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self, workdir: Path) -> None:
        self.log_path = workdir / f"{self.name}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        env = {**os.environ, **self.env}
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()

    def stop(self, timeout: float = 10.0) -> None:
        p = self.popen
        if p is None:
            return
        if p.poll() is not None:  # the leader is gone; children it left (hypercorn workers) are not
            self._kill_group()
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        self._kill_group()

    def kill(self) -> None:
        """SIGKILL (crash injection) of the whole process group, and reap.

        The child runs in its own session, so its group holds every process it started (e.g.
        hypercorn's worker): killing only the parent would leave a worker serving the port.
        """
        p = self.popen
        if p is not None and p.poll() is None:
            self._kill_group()
            p.kill()
            p.wait(10)

    def _kill_group(self) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, n: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def services_proc(module: str, port: int, worker_class: str | None = None) -> Proc:
    """hypercorn serving ``module:app`` with one worker (``worker_class``: hypercorn's
    ``--worker-class``, e.g. ``uvloop``; its default, asyncio, when None)."""
    # A long keep-alive: a server that pools connections to the deployment must not lose a
    # request to the endpoint closing an idle connection at the same moment (hypercorn's default is 5 s).
    argv = [sys.executable, "-m", "hypercorn", f"{module}:app", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--keep-alive", "300"]
    if worker_class is not None:
        argv += ["--worker-class", worker_class]
    return Proc(f"services-{module.rsplit('.', 1)[-1]}", argv)


def cache_dir() -> Path:
    return Path(os.environ.get("DURABLE_CONFORMANCE_CACHE", Path.cwd() / ".cache")).resolve()


def restate_binary(install: bool = True) -> Path:
    """Path of restate-server 1.7.12, installing it with npm into the cache when missing."""
    root = cache_dir() / "restate"
    binary = root / "node_modules" / "@restatedev" / "restate-server-linux-x64" / "bin" / "restate-server"
    if binary.exists():
        return binary
    if not install:
        raise StackError(f"restate-server not installed at {binary}")
    npm = shutil.which("npm")
    if npm is None:
        raise StackError("npm is needed to install the Restate server (--target restate)")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(root), RESTATE_NPM], check=True,
                   stdout=subprocess.DEVNULL)
    if not binary.exists():
        raise StackError(f"npm install did not produce {binary}")
    return binary


def restate_proc(base_dir: Path, ingress: int, admin: int, node: int, always_suspend: bool) -> Proc:
    env = {
        "RESTATE_BIND_IP": "127.0.0.1",
        "RESTATE_BASE_DIR": str(base_dir),
        "RESTATE_INGRESS__BIND_PORT": str(ingress),
        "RESTATE_ADMIN__BIND_PORT": str(admin),
        "RESTATE_BIND_PORT": str(node),
        "RESTATE_LOG_FILTER": "warn",
        "RESTATE_ADMIN__QUERY_ENGINE__PGSQL_BIND_ADDRESS": f"127.0.0.1:{free_port()}",
        # purge expired results every second (default 1 h) so retention cases finish in seconds
        "RESTATE_WORKER__CLEANUP_INTERVAL": "1s",
    }
    if always_suspend:
        env["RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT"] = "0s"
    return Proc("restate-server", [str(restate_binary()), "--no-logo", "--listen-mode", "tcp"], env=env)


def reference_proc(data_dir: Path, ingress: int, admin: int, always_suspend: bool) -> Proc:
    argv = [sys.executable, "-m", "durable.cli", "server", "--data-dir", str(data_dir),
            "--ingress-port", str(ingress), "--admin-port", str(admin), "--log-level", "warning"]
    if always_suspend:
        argv.append("--always-suspend")
    return Proc("reference-server", argv)


def register(admin: str, services_url: str, timeout: float = 30.0) -> dict[str, object]:
    """Register a deployment through the Restate-compatible admin API (POST /deployments)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.post(f"{admin}/deployments", json={"uri": services_url, "force": True}, timeout=10.0,
                           trust_env=False)
            if r.status_code in (200, 201):
                body = r.json()
                return body if isinstance(body, dict) else {}
            last = f"{r.status_code} {r.text[:300]}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise StackError(f"registering {services_url} at {admin} failed: {last}")


@dataclass
class Stack:
    """URLs of a started stack plus the processes to stop."""

    ingress: str
    admin: str
    services: str
    procs: list[Proc]
    workdir: Path

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.procs)

    def control(self) -> StackControl:
        return StackControl(self)


class StackControl:
    """SIGKILL and restart the processes of a stack the kit started (same ports, same data)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    @property
    def _services(self) -> Proc:
        return self.stack.procs[0]

    @property
    def _server(self) -> Proc:
        return self.stack.procs[1]

    async def kill_server(self) -> None:
        await asyncio.to_thread(self._server.kill)

    async def start_server(self) -> None:
        def go() -> None:
            for attempt in range(5):  # the old ports may take a moment to be released
                self._server.start(self.stack.workdir)
                try:
                    wait_http(f"{self.stack.admin}/health", 60, self._server.popen)
                    wait_port(int(self.stack.ingress.rsplit(":", 1)[1]), 30, self._server.popen)
                    return
                except StackError:
                    if attempt == 4:
                        raise
                    self._server.kill()
                    time.sleep(0.5)

        await asyncio.to_thread(go)

    async def add_deployment(self, tag: str) -> str:
        """Start another services process (env DURABLE_CONFORMANCE_TAG=tag), register it, return its URL.

        It stays up until the stack stops; new invocations go to it from now on."""

        def go() -> str:
            port = free_port()
            proc = services_proc(self._services.argv[3].split(":", 1)[0], port)
            proc.name = f"services-{tag}"
            proc.env = {"DURABLE_CONFORMANCE_TAG": tag}
            proc.start(self.stack.workdir)
            self.stack.procs.append(proc)
            wait_port(port, 30, proc.popen)
            url = f"http://127.0.0.1:{port}"
            register(self.stack.admin, url)
            return url

        return await asyncio.to_thread(go)

    async def kill_services(self) -> None:
        await asyncio.to_thread(self._services.kill)

    async def start_services(self) -> None:
        def go() -> None:
            self._services.start(self.stack.workdir)
            wait_port(int(self.stack.services.rsplit(":", 1)[1]), 30, self._services.popen)

        await asyncio.to_thread(go)


@contextlib.contextmanager
def started(kind: str, always_suspend: bool, workdir: Path | None = None) -> Iterator[Stack]:
    """Start ``kind`` ("reference" or "restate") with its test services; yield the URLs."""
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix=f"durable-conformance-{kind}-")) if workdir is None else workdir
    wd.mkdir(parents=True, exist_ok=True)
    ingress, admin, svc = free_port(), free_port(), free_port()
    module = "conformance.services.restate" if kind == "restate" else "conformance.services.reference"
    services = services_proc(module, svc)
    if kind == "restate":
        server = restate_proc(wd / "restate-data", ingress, admin, free_port(), always_suspend)
    elif kind == "reference":
        server = reference_proc(wd / "data", ingress, admin, always_suspend)
    else:
        raise StackError(f"unknown stack {kind!r}")
    procs = [services, server]
    stack = Stack(f"http://127.0.0.1:{ingress}", f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{svc}", procs, wd)
    try:
        for p in procs:
            p.start(wd)
        wait_port(svc, 30, services.popen)
        wait_http(f"{stack.admin}/health", 60, server.popen)
        wait_port(ingress, 30, server.popen)
        register(stack.admin, stack.services)
        yield stack
    except StackError as exc:
        raise StackError(f"{exc}\n{stack.logs()}") from exc
    finally:
        stack.stop()
        if own:
            shutil.rmtree(wd, ignore_errors=True)


@contextlib.contextmanager
def started_services(module: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve a test-services module alone (for the SDK half); yield its URL."""
    wd = Path(tempfile.mkdtemp(prefix="durable-conformance-sdk-"))
    port = free_port()
    proc = services_proc(module, port)
    proc.env.update(env or {})
    try:
        proc.start(wd)
        wait_port(port, 30, proc.popen)
        yield f"http://127.0.0.1:{port}"
    except StackError as exc:
        raise StackError(f"{exc}\n{proc.tail()}") from exc
    finally:
        proc.stop()
        shutil.rmtree(wd, ignore_errors=True)
