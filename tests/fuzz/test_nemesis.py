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
