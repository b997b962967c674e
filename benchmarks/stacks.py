"""Start one stack (server + the bench services under hypercorn, one worker) on loopback.

Both SDK endpoints run under the same hypercorn worker class: uvloop by default (what either
SDK would be deployed with for speed), asyncio (hypercorn's default) on request.

The launchers are the conformance kit's (``conformance.stack``): the same binaries, ports and
process handling, so "the Restate stack" means the same thing in both tools. What this module
adds: the bench services module, the process ids to sample CPU and memory from, and a record of
each server's durability setting (checked, not assumed):

- reference: the SQLite store's ``PRAGMA synchronous=FULL`` in WAL mode (read from the store's
  source, since a pragma is per connection and cannot be queried from outside);
- restate: ``restate-server --dump-config`` with the exact environment of the benchmarked
  process; the log (bifrost, provider ``replicated`` served by the embedded log-server) must have
  ``rocksdb-disable-wal-fsync = false``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conformance.stack import (
    Proc,
    StackError,
    free_port,
    reference_proc,
    register,
    restate_binary,
    restate_proc,
    services_proc,
    wait_http,
    wait_port,
)

__all__ = ["KINDS", "BenchStack", "durability", "started"]

KINDS = ("reference", "restate")
SERVICES = {
    "reference": "benchmarks.services.reference_app",
    "restate": "benchmarks.services.restate_app",
}


@dataclass
class BenchStack:
    """A running stack: URLs, the two processes, and how it makes writes durable."""

    kind: str
    ingress: str
    admin: str
    services_url: str
    server: Proc
    services: Proc
    durability: dict[str, str]

    @property
    def server_pid(self) -> int:
        return _pid(self.server)

    @property
    def sdk_pid(self) -> int:
        return _pid(self.services)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in (self.server, self.services))


def _pid(proc: Proc) -> int:
    if proc.popen is None:
        raise StackError(f"{proc.name} is not running")
    return proc.popen.pid


def durability(kind: str, server: Proc) -> dict[str, str]:
    """How ``server`` makes a write durable before acknowledging it, as checked here."""
    if kind == "reference":
        spec = importlib.util.find_spec("reference_server.store.sqlite")
        origin = spec.origin if spec is not None else None
        text = Path(origin).read_text() if origin else ""
        full = "PRAGMA synchronous=FULL" in text and "journal_mode=WAL" in text
        return {
            "store": "SQLite, WAL, synchronous=FULL (fsync at every commit, group commit)",
            "verified": "yes: reference_server/store/sqlite.py sets the pragmas" if full else "NO",
        }
    env = {**os.environ, **server.env}
    out = subprocess.run([server.argv[0], "--dump-config"], env=env, capture_output=True, text=True,
                         timeout=60, check=False).stdout
    found = _toml_keys(out, {
        "bifrost": ["default-provider"],
        "log-server": ["rocksdb-disable-wal-fsync"],
        "bifrost.local": ["rocksdb-disable-wal", "rocksdb-disable-wal-fsync",
                          "writer-batch-commit-count"],
    })
    fsync = found.get("log-server.rocksdb-disable-wal-fsync") == "false"
    return {**found, "verified": "yes: --dump-config, log WAL fsync on" if fsync else "NO"}


def _toml_keys(text: str, wanted: dict[str, list[str]]) -> dict[str, str]:
    """Pick ``section.key = value`` pairs out of a flat TOML dump (no parser needed)."""
    section = ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        header = re.fullmatch(r"\[(.+)\]", line.strip())
        if header:
            section = header.group(1)
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip() in wanted.get(section, []):
            found[f"{section}.{key.strip()}"] = value.strip().strip('"')
    return found


@contextlib.contextmanager
def started(kind: str, workdir: Path, sdk_worker_class: str = "uvloop") -> Iterator[BenchStack]:
    """Start ``kind`` in ``workdir`` (ports chosen at run time); stop both processes on exit.

    ``sdk_worker_class`` is hypercorn's ``--worker-class`` for the SDK endpoint, the same for
    both stacks (``asyncio`` is hypercorn's default)."""
    if kind not in KINDS:
        raise StackError(f"unknown stack {kind!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    ingress, admin, svc = free_port(), free_port(), free_port()
    services = services_proc(SERVICES[kind], svc, None if sdk_worker_class == "asyncio" else sdk_worker_class)
    services.name = f"{kind}-sdk"
    if kind == "restate":
        restate_binary()  # installs into the kit's cache when missing
        server = restate_proc(workdir / "restate-data", ingress, admin, free_port(), False)
    else:
        server = reference_proc(workdir / "data", ingress, admin, False)
    server.name = f"{kind}-server"
    stack = BenchStack(kind, f"http://127.0.0.1:{ingress}", f"http://127.0.0.1:{admin}",
                       f"http://127.0.0.1:{svc}", server, services, durability(kind, server))
    try:
        for p in (services, server):
            p.start(workdir)
        wait_port(svc, 60, services.popen)
        wait_http(f"{stack.admin}/health", 90, server.popen)
        wait_port(ingress, 30, server.popen)
        register(stack.admin, stack.services_url)
        yield stack
    except StackError as exc:
        raise StackError(f"{exc}\n{stack.logs()}") from exc
    finally:
        services.stop()
        server.stop()
