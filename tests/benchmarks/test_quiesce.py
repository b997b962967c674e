"""scenarios.quiesce waits for idle stacks and gives up on busy ones; the CPU of the other stacks
during a batch is sampled from the same /proc counters."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from benchmarks import scenarios


@dataclass
class _Stack:
    server_pid: int
    sdk_pid: int


@pytest.fixture
def idle() -> Iterator[int]:
    p = subprocess.Popen(["sleep", "30"])
    yield p.pid
    p.kill()
    p.wait()


@pytest.fixture
def busy() -> Iterator[int]:
    p = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 30: pass"])
    yield p.pid
    p.kill()
    p.wait()


def test_idle_stacks_are_quiet_after_one_window(idle: int) -> None:
    stacks = (_Stack(idle, idle),)
    waited = asyncio.run(scenarios.quiesce(stacks, window_s=0.2, max_s=2.0))  # type: ignore[arg-type]
    assert waited < 0.6


def test_a_busy_stack_is_waited_for_until_the_bound(busy: int, idle: int) -> None:
    stacks = (_Stack(idle, idle), _Stack(busy, idle))
    waited = asyncio.run(scenarios.quiesce(stacks, window_s=0.2, max_s=1.0))  # type: ignore[arg-type]
    assert waited >= 0.9
    before = scenarios.stacks_cpu_s(stacks)  # type: ignore[arg-type]
    asyncio.run(asyncio.sleep(0.3))
    assert scenarios.stacks_cpu_s(stacks) - before > 0.1  # type: ignore[arg-type]
