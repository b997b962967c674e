"""Seeded fault timeline, and process control on a real subprocess."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from fuzz.nemesis import PROCESS_FAULTS, Nemesis, Proc, phases, port_open, schedule

from .conftest import free_port


def test_schedule_is_seeded_and_covers_every_kind() -> None:
    a = schedule(3, 60)
    assert a == schedule(3, 60)
    assert a != schedule(4, 60)
    assert {x.kind for x in a} == set(PROCESS_FAULTS)
    kinds = [x.kind for x in a]
    assert kinds.count("kill_server") + kinds.count("term_server") >= 5
    assert kinds.count("kill_sdk") >= 5
    faulty = [p for p in phases(60) if p.faulty]
    assert all(any(p.start <= x.at < p.end for p in faulty) for x in a)
    assert not phases(60)[-1].faulty


def test_proc_kill_restart_pause(tmp_path: Path) -> None:
    port = free_port()
    proc = Proc("http", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                port, tmp_path / "http.log", cwd=tmp_path)

    async def go() -> None:
        proc.start()
        await proc.wait_ready()
        first = proc.proc.pid if proc.proc else 0
        await proc.restart(signal.SIGKILL)
        assert proc.alive() and proc.proc is not None and proc.proc.pid != first
        await proc.restart(signal.SIGTERM)
        assert proc.alive()
        toggles: list[bool] = []
        nem = Nemesis({"sdk": proc}, [], 0.5, toggles.append, asyncio.get_running_loop().time)
        proc.pause()
        await nem.heal()
        assert not proc.paused and port_open(port)
        assert toggles == [False]
        await proc.stop()
        assert not proc.alive()

    asyncio.run(go())


class _SlowFirstRestart:
    """A stand-in process whose first restart takes long (as under heavy load)."""

    def __init__(self) -> None:
        self.paused = False
        self.restarts = 0

    async def restart(self, sig: int, downtime: float = 0.0) -> None:
        self.restarts += 1
        if self.restarts == 1:
            await asyncio.sleep(1.5)

    def alive(self) -> bool:
        return True

    async def wait_ready(self) -> None:
        return None


def test_a_kill_waits_for_a_slow_restart_instead_of_being_skipped() -> None:
    """One SDK kill per fault phase is a quota: a kill that finds the SDK still restarting runs
    later (in its phase or the next fault phase), so the run still makes every kill."""
    from fuzz.nemesis import Action

    fake = _SlowFirstRestart()
    timeline = [p for p in phases(3.6, 0.6, 0.3) if p.faulty]
    actions = [Action(round(p.start + 0.1, 3), "kill_sdk", 0.0) for p in timeline]

    async def go() -> Nemesis:
        loop = asyncio.get_running_loop()
        nem = Nemesis({"sdk": fake}, actions, 3.6, lambda on: None, loop.time,  # type: ignore[dict-item]
                      fault_s=0.6, heal_s=0.3)
        await nem.run()
        return nem

    nem = asyncio.run(go())
    assert len(timeline) == 4
    assert nem.done["kill_sdk"] == 4 and fake.restarts == 4
    assert nem.skipped["kill_sdk"] == 0 and nem.deferred["kill_sdk"] >= 1


def test_restart_through_a_warm_standby(tmp_path: Path) -> None:
    """With a standby, a restart adopts a process that imported the program already: a fresh
    process (new pid) running the same command, on the same port."""
    from fuzz.nemesis import Standby

    from .conftest import ROOT

    port = free_port()
    proc = Proc("http", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                port, tmp_path / "http.log", cwd=ROOT, standby=Standby("http.server", ("http.server",)))

    async def go() -> None:
        proc.start()  # no standby yet: a plain start, which spawns one for the next start
        await proc.wait_ready()
        assert proc.standby_starts == 0
        pids = {proc.proc.pid if proc.proc else 0}
        for _ in range(2):
            await proc.restart(signal.SIGKILL)
            assert proc.alive() and proc.proc is not None and port_open(port)
            pids.add(proc.proc.pid)
        assert proc.standby_starts == 2 and len(pids) == 3
        await proc.stop()
        proc.discard_standby()
        assert not proc.alive()

    asyncio.run(go())
