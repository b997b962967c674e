"""Process control and the seeded fault timeline (Jepsen-style fault/heal phases).

:class:`Proc` owns one subprocess (the server, or the SDK's hypercorn) and can SIGKILL, SIGTERM,
SIGSTOP/SIGCONT and restart it on the same data dir and port. :func:`schedule` derives the whole
timeline of process faults from the seed — victims included (the Restate verification runner
picks its crash victim with an unseeded ``Math.random()``; here a seed replays the same schedule).
:class:`Nemesis` executes the timeline: fault phases (process faults + proxy faults on)
alternate with heal phases (everything off), and a final heal ends it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .programs import sub_rng

#: the nemesis' menu; ``partition_sdk`` cuts the server off from the SDK (at the fault proxy)
PROCESS_FAULTS: tuple[str, ...] = (
    "kill_server", "term_server", "kill_sdk", "pause_server", "pause_sdk", "partition_sdk",
)
READY_TIMEOUT_S = 30.0
#: faults with a quota per fault phase (one server death, one SDK kill): deferred, never skipped,
#: while the process is still restarting
QUOTA_FAULTS: frozenset[str] = frozenset({"kill_server", "term_server", "kill_sdk"})


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        try:
            s.connect((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class Standby:
    """Start ``python -m module ARGS`` through a warm standby (:mod:`fuzz.standby`) that has
    imported ``preload`` already; ``argv`` of the :class:`Proc` is then ``[python, -m, module,
    *args]``."""

    module: str
    preload: tuple[str, ...] = ()


class Proc:
    """A restartable subprocess listening on ``port``."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 extra_args: Callable[[int], list[str]] | None = None,
                 standby: Standby | None = None) -> None:
        """``extra_args(n)``: arguments appended at the ``n``-th start (0, 1, ...)."""
        self.name = name
        self.argv = argv
        self.extra_args = extra_args
        self.standby = standby
        self._standby_proc: subprocess.Popen[bytes] | None = None
        self.standby_starts = 0  # starts that adopted a warm standby
        self.port = port
        self.log_path = log
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.paused = False
        self.starts = 0

    def start(self) -> None:
        extra = self.extra_args(self.starts) if self.extra_args is not None else []
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== start {self.starts} {time.time():.3f} {' '.join(extra)} ===\n".encode())
        self._log.flush()
        self.proc = self._adopt_standby(extra)
        if self.proc is None:
            self.proc = subprocess.Popen([*self.argv, *extra], env=self.env, cwd=self.cwd,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1
        if self.standby is not None:
            self._spawn_standby()  # for the next restart

    def _spawn_standby(self) -> None:
        assert self.standby is not None
        with self.log_path.open("ab") as log:
            self._standby_proc = subprocess.Popen(
                [sys.executable, "-m", "fuzz.standby", self.standby.module, *self.standby.preload],
                env=self.env, cwd=self.cwd, stdin=subprocess.PIPE, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _adopt_standby(self, extra: list[str]) -> subprocess.Popen[bytes] | None:
        """Tell the warm standby to run (with the arguments of ``argv`` after the module)."""
        proc, self._standby_proc = self._standby_proc, None
        if proc is None or self.standby is None or proc.poll() is not None or proc.stdin is None:
            return None
        args = self.argv[self.argv.index(self.standby.module) + 1:] + extra
        try:
            proc.stdin.write(json.dumps(args).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        self.standby_starts += 1
        return proc

    def discard_standby(self) -> None:
        """End the waiting standby (when the run is over)."""
        proc, self._standby_proc = self._standby_proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(5)

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if await asyncio.to_thread(port_open, self.port):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready on port {self.port} after {timeout}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            # the process leads its own session (start_new_session): signal the whole group,
            # so that no worker child survives a "kill" and keeps serving the port
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    async def stop(self, sig: int = signal.SIGKILL, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.paused:
            self.send_signal(signal.SIGCONT)
            self.paused = False
        self.send_signal(sig)
        deadline = time.monotonic() + grace
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.proc.poll() is None:
            self.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait, 5)
        if self._log is not None:
            self._log.close()
            self._log = None

    async def restart(self, sig: int = signal.SIGKILL, downtime: float = 0.0) -> None:
        await self.stop(sig)
        if downtime:
            await asyncio.sleep(downtime)
        self.start()
        await self.wait_ready()

    def pause(self) -> None:
        self.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.send_signal(signal.SIGCONT)
        self.paused = False


@dataclass(frozen=True)
class Action:
    at: float  # seconds from the start of the run
    kind: str  # one of PROCESS_FAULTS
    param: float  # pause length or downtime, seconds


@dataclass(frozen=True)
class Phase:
    start: float
    end: float
    faulty: bool


def phases(duration: float, fault_s: float = 4.0, heal_s: float = 2.0) -> list[Phase]:
    """Alternating fault/heal phases covering ``[0, duration)``; the last one is a heal."""
    out: list[Phase] = []
    t = 0.0
    while t + fault_s <= duration:
        out.append(Phase(t, t + fault_s, True))
        end = min(t + fault_s + heal_s, duration)
        out.append(Phase(t + fault_s, end, False))
        t = end
    if t < duration:
        out.append(Phase(t, duration, False))
    return out


def schedule(seed: int, duration: float, kinds: tuple[str, ...] = PROCESS_FAULTS,
             fault_s: float = 4.0, heal_s: float = 2.0) -> list[Action]:
    """The seeded process-fault timeline.

    Every fault phase kills the server (SIGTERM in one phase of four, SIGKILL otherwise), kills
    the SDK and pauses one of the two, in a seeded order at seeded instants, with a seeded pause
    length or downtime. Quotas rather than weights, so that a 60 s run is guaranteed at least 5
    server kills and 5 SDK kills. ``kinds`` restricts the menu (e.g. no server control when the
    implementation under test is not ours to restart)."""
    rng = sub_rng(seed, "nemesis")
    out: list[Action] = []
    for k, ph in enumerate(p for p in phases(duration, fault_s, heal_s) if p.faulty):
        slots = [
            "term_server" if k % 4 == 1 else "kill_server",
            "kill_sdk",
            "pause_server" if k % 2 == 0 else "pause_sdk",
        ]
        if k % 2 == 1:
            slots.append("partition_sdk")
        rng.shuffle(slots)
        slots = [s for s in slots if s in kinds]
        if not slots:
            continue
        span = (ph.end - ph.start) / len(slots)
        for j, kind in enumerate(slots):
            at = ph.start + j * span + rng.uniform(0.1, span * 0.8)
            if kind.startswith(("pause", "partition")):
                param = rng.uniform(0.3, 1.2)
            else:
                param = rng.uniform(0.0, 0.3)
            out.append(Action(round(at, 3), kind, round(param, 3)))
    return out


class Nemesis:
    """Executes a schedule against the stack's processes; toggles proxy faults per phase."""

    def __init__(self, procs: dict[str, Proc], actions: list[Action], duration: float,
                 set_proxy_faults: Callable[[bool], None], clock: Callable[[], float],
                 log: Callable[[dict[str, Any]], None] | None = None,
                 fault_s: float = 4.0, heal_s: float = 2.0,
                 partition: Callable[[float], None] | None = None) -> None:
        self.procs = procs
        self.partition = partition
        self.fault_s, self.heal_s = fault_s, heal_s
        self.actions = actions
        self.duration = duration
        self.set_proxy_faults = set_proxy_faults
        self.clock = clock
        self.log = log or (lambda _: None)
        self.done: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        #: kills that waited for a restart to finish (later in their phase, or in the next one)
        self.deferred: Counter[str] = Counter()
        #: seconds a process was down (kill to ready again: stop, downtime, start, readiness),
        #: paused, or cut off by a partition
        self.dead_time: defaultdict[str, float] = defaultdict(float)
        #: how long each restart took (kill or term to ready again), per fault kind
        self.restart_s: dict[str, list[float]] = {}
        self._pending: list[Action] = []
        self._resumes: list[asyncio.Future[None]] = []
        self._background: list[asyncio.Future[None]] = []
        self._restarting: set[Proc] = set()
        self._t0 = 0.0
        self.errors: list[str] = []

    async def run(self) -> None:
        t0 = self._t0 = self.clock()
        timeline = phases(self.duration, self.fault_s, self.heal_s)
        pending = self._pending = sorted(self.actions, key=lambda a: a.at)
        try:
            for k, ph in enumerate(timeline):
                self.set_proxy_faults(ph.faulty)
                self.log({"phase": "fault" if ph.faulty else "heal", "at": round(self.clock(), 3)})
                # an action that could not run inside its fault phase (a slow restart delayed
                # it) is skipped — heal phases stay free of faults — except a kill: it moves to
                # the next fault phase, so that the quotas (one server death and one SDK kill per
                # fault phase) hold however slowly processes restart
                overdue = []
                while pending and pending[0].at < ph.start:
                    overdue.append(pending.pop(0))
                nxt_fault = next((q.start for q in timeline[k:] if q.faulty), None)
                for a in overdue:
                    if a.kind in QUOTA_FAULTS and nxt_fault is not None:
                        self.deferred[a.kind] += 1
                        bisect.insort(pending, Action(round(nxt_fault + 0.05, 3), a.kind, a.param),
                                      key=lambda x: x.at)
                    else:
                        self.skipped[a.kind] += 1
                while True:
                    now = self.clock() - t0
                    if now >= ph.end:
                        break
                    if pending and pending[0].at <= now:
                        await self._do(pending.pop(0))
                        continue
                    nxt = min(ph.end, pending[0].at if pending else ph.end)
                    await asyncio.sleep(max(0.0, min(0.5, nxt - now)))
            for a in pending:
                self.skipped[a.kind] += 1
        finally:
            await self.heal()

    @staticmethod
    async def _resume_later(proc: Proc, after: float) -> None:
        await asyncio.sleep(after)
        if proc.paused:
            proc.resume()

    async def heal(self) -> None:
        """Final heal: proxy faults off, every process resumed and running."""
        self.set_proxy_faults(False)
        for t in self._resumes:
            t.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for p in self.procs.values():
            if p.paused:
                p.resume()
            if not p.alive():
                with contextlib.suppress(Exception):
                    p.start()
        for p in self.procs.values():
            try:
                await p.wait_ready()
            except RuntimeError as exc:
                self.errors.append(str(exc))

    async def _do(self, a: Action) -> None:
        if a.kind == "partition_sdk":
            if self.partition is not None:
                self.log({"action": a.kind, "at": round(self.clock(), 3), "scheduled": a.at})
                self.partition(a.param)  # heals by itself; the timeline moves on
                self.dead_time["partitioned"] += a.param
                self.done[a.kind] += 1
            return
        target = "server" if a.kind.endswith("server") else "sdk"
        proc = self.procs.get(target)
        if proc is None:
            return
        if proc in self._restarting:  # still coming back from the previous kill
            if a.kind in QUOTA_FAULTS:  # try again shortly (see run())
                self.deferred[a.kind] += 1
                again = Action(round(self.clock() - self._t0 + 0.2, 3), a.kind, a.param)
                bisect.insort(self._pending, again, key=lambda x: x.at)
            else:
                self.skipped[a.kind] += 1
            return
        self.log({"action": a.kind, "at": round(self.clock(), 3), "scheduled": a.at})
        if a.kind.startswith(("kill", "term")):
            # restarts run in the background, so a slow restart of one process does not push
            # the other process's faults out of their phase
            self._restarting.add(proc)
            sig = signal.SIGKILL if a.kind.startswith("kill") else signal.SIGTERM
            self._background.append(asyncio.ensure_future(self._restart(proc, sig, a)))
            self.done[a.kind] += 1
        elif a.kind.startswith("pause"):
            proc.pause()
            self.dead_time[f"{proc.name}_paused"] += a.param
            self._resumes.append(asyncio.ensure_future(self._resume_later(proc, a.param)))
            self.done[a.kind] += 1

    async def _restart(self, proc: Proc, sig: int, a: Action) -> None:
        t = time.monotonic()
        try:
            await proc.restart(sig, a.param)
            took = time.monotonic() - t
            self.dead_time[f"{proc.name}_down"] += took
            self.restart_s.setdefault(a.kind, []).append(round(took, 3))
        except RuntimeError as exc:
            self.errors.append(f"{a.kind}: {exc}")
            with contextlib.suppress(Exception):
                await proc.restart(signal.SIGKILL)
        finally:
            self._restarting.discard(proc)
