"""The system under test, wired for fault injection.

::

    driver ──ingress──▶ server ──/invoke──▶ FaultProxy ──▶ SDK (hypercorn, FuzzInterpreter)
                                                                 │ run closures, markers
    ledger ◀─────────────────────────────────────────────────────┘

By default the embedded reference stack is started: ``durable server`` as a subprocess (so it
can be SIGKILLed and restarted on the same data dir) and the SDK's hypercorn as another. With
``ingress``/``admin`` URLs, any implementation is tested instead: the fuzzer still serves its
SDK deployment behind its proxy and registers it through the admin API, but it cannot restart
that server, so server faults are left out of the schedule.

Everything listens on 127.0.0.1, on ports chosen at run time.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .clock import Clock
from .ledger import Ledger
from .nemesis import Proc, Standby
from .programs import sub_rng
from .proxy import FaultPolicy, FaultProxy

#: faults between the driver and the ingress (submissions only)
CLIENT_FAULTS: tuple[str, ...] = ("drop_request", "drop_response", "reset_response", "delay_response")

ROOT = Path(__file__).resolve().parents[1]
#: warm standbys (fuzz/standby.py): a restart after a kill does not pay for Python imports
SERVER_STANDBY = Standby("reference_server", (
    "reference_server.cli", "reference_server.server", "reference_server.runtime",
    "reference_server.http.serve", "uvicorn", "uvloop", "httptools"))
SDK_STANDBY = Standby("hypercorn", (
    "hypercorn.run", "hypercorn.config", "hypercorn.asyncio", "hypercorn.asyncio.run", "fuzz.services.interpreter"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class StackConfig:
    seed: int
    workdir: Path
    ingress: str | None = None
    admin: str | None = None
    always_suspend: bool = False
    proxy_probability: float = 0.15
    proxy_kinds: tuple[str, ...] | None = None
    #: the command that starts the server, before ``--data-dir ...`` (tests use broken servers)
    server_argv: list[str] | None = None
    #: log level of the embedded server (info logs every HTTP request: slow under load)
    server_log_level: str = "warning"
    #: transport mode of the embedded server (spec/02 2.1): ``mixed`` picks streaming or
    #: request/response at every (re)start of the server (seeded; the first start streams, the
    #: second does not), ``stream`` or ``request_response`` keep one
    transport: str = "mixed"


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.clock = Clock()
        config.workdir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.clock, config.workdir / "ledger.jsonl")
        self.policy = FaultPolicy(seed=config.seed, probability=config.proxy_probability,
                                  enabled=False)
        if config.proxy_kinds is not None:
            self.policy.kinds = config.proxy_kinds
        self.sdk_port = free_port()
        self.proxy = FaultProxy(self.sdk_port, self.policy, self.clock)
        # between the driver and the ingress: loses submissions and their answers, so that
        # client outcomes are genuinely indeterminate sometimes (Jepsen's :info)
        self.client_policy = FaultPolicy(seed=config.seed, probability=config.proxy_probability,
                                         enabled=False, kinds=CLIENT_FAULTS, label="client")
        self.client_proxy: FaultProxy | None = None
        self.client_ingress = ""
        self.sdk: Proc | None = None
        self.server: Proc | None = None
        self.ingress = config.ingress or ""
        self.admin = config.admin or ""
        #: the transport mode of each start of the embedded server, in order
        self.server_transports: list[str] = []

    def streams_at(self, start: int) -> bool:
        """Whether the embedded server's ``start``-th run uses the streaming mode."""
        if self.config.transport != "mixed":
            return self.config.transport == "stream"
        if start < 2:
            return start == 0
        return sub_rng(self.config.seed, f"server-transport:{start}").random() < 0.5

    def transport_args(self, start: int) -> list[str]:
        streaming = self.streams_at(start)
        self.server_transports.append("stream" if streaming else "request_response")
        return ["--streaming" if streaming else "--no-streaming"]

    @property
    def expected_modes(self) -> tuple[str, ...]:
        """The transport modes this run must exercise (every fault kind in each)."""
        if not self.embedded or self.config.server_argv is not None:
            return ()
        if self.config.transport == "mixed":
            return ("request_response", "stream")
        return (self.config.transport,)

    @property
    def embedded(self) -> bool:
        return self.config.ingress is None

    def procs(self) -> dict[str, Proc]:
        out = {}
        if self.server is not None:
            out["server"] = self.server
        if self.sdk is not None:
            out["sdk"] = self.sdk
        return out

    async def start(self) -> None:
        wd = self.config.workdir
        ledger_url = await self.ledger.start()
        self.sdk = Proc(
            "sdk",
            [sys.executable, "-m", "hypercorn", "fuzz.services.interpreter:app",
             "--bind", f"127.0.0.1:{self.sdk_port}", "--workers", "0"],
            self.sdk_port, wd / "sdk.log", env={"FUZZ_LEDGER_URL": ledger_url}, cwd=ROOT,
            standby=SDK_STANDBY,
        )
        self.sdk.start()
        proxy_url = await self.proxy.start()
        if self.embedded:
            ingress_port, admin_port = free_port(), free_port()
            # ``python -m reference_server`` is ``durable server`` without the rest of the CLI
            prefix = self.config.server_argv or [sys.executable, "-m", "reference_server"]
            argv = [*prefix, "--data-dir", str(wd / "data"),
                    "--ingress-port", str(ingress_port), "--admin-port", str(admin_port)]
            if self.config.always_suspend:
                argv.append("--always-suspend")
            if self.config.server_argv is None:
                # retries capped at 1 s (default 10 s): under a kill every few seconds the default
                # backoff leaves most invocations waiting instead of being exercised
                argv += ["--log-level", self.config.server_log_level, "--retry-max", "1s"]
            extra = self.transport_args if self.config.server_argv is None else None
            self.server = Proc("server", argv, admin_port, wd / "server.log", cwd=ROOT,
                               extra_args=extra,
                               standby=SERVER_STANDBY if self.config.server_argv is None else None)
            self.server.start()
            self.ingress = f"http://127.0.0.1:{ingress_port}"
            self.admin = f"http://127.0.0.1:{admin_port}"
            await self.server.wait_ready()
            await Proc("ingress", [], ingress_port, wd / "unused.log").wait_ready()
        await self.sdk.wait_ready()
        await self.register(proxy_url)
        port = int(self.ingress.rsplit(":", 1)[1].split("/")[0])
        host = self.ingress.split("://", 1)[1].rsplit(":", 1)[0]
        self.client_proxy = FaultProxy(port, self.client_policy, self.clock, host=host,
                                       fault_prefix="/FuzzInterpreter/")
        self.client_ingress = await self.client_proxy.start()

    async def register(self, uri: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        async with httpx.AsyncClient(timeout=10) as c:
            while time.monotonic() < deadline:
                try:
                    r = await c.post(f"{self.admin}/deployments", json={"uri": uri, "force": True})
                    if r.status_code in (200, 201):
                        return
                    last = f"{r.status_code} {r.text[:300]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.3)
        raise RuntimeError(f"could not register the deployment {uri}: {last}")

    async def stop(self) -> None:
        for p in self.procs().values():
            await p.stop()
            p.discard_standby()
        await self.proxy.stop()
        if self.client_proxy is not None:
            await self.client_proxy.stop()
        await self.ledger.stop()
