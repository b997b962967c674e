"""Timer accuracy: a sleep never fires early, and how late it fires is measured.

Lateness = the wall-clock time the handler observed after waking (a durable step right after
the sleep) minus the sleep's ``wake_up_time_ms`` as recorded in the journal. Never-early is
asserted; the lateness distribution is printed (run with ``-s``) and written to
``timer-accuracy.json`` in the test's temp dir, not asserted (timing claims are measured, not
unit-tested).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .stack import ServerProcess, ServiceProcess, running

pytestmark = pytest.mark.e2e


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServiceProcess]]:
    with running(tmp_path, "tests.e2e.apps.timers:app") as procs:
        yield procs


def test_sleeps_never_fire_early(stack: tuple[ServerProcess, ServiceProcess], tmp_path: Path) -> None:
    server, _ = stack
    lateness_ms: list[float] = []
    with httpx.Client(timeout=30) as client:
        for i in range(30):
            ms = [20, 100, 250][i % 3]
            r = client.post(f"{server.ingress}/restate/call/Sleeper/sleep", json=ms)
            assert r.status_code == 200, r.text
            woke_s = r.json()
            detail = client.get(f"{server.admin}/invocations/{r.headers['x-restate-id']}").json()
            sleeps = [e for e in detail["journal"] if e["type"] == "sleep"]
            assert len(sleeps) == 1, detail["journal"]
            late = woke_s * 1000 - sleeps[0]["entry"]["wake_up_time_ms"]
            assert late >= 0, f"a {ms} ms sleep fired {-late:.1f} ms early"
            lateness_ms.append(late)
    lateness_ms.sort()
    report = {
        "sleeps": len(lateness_ms),
        "p50_ms": statistics.median(lateness_ms),
        "p99_ms": lateness_ms[int(0.99 * (len(lateness_ms) - 1))],
        "max_ms": lateness_ms[-1],
    }
    (tmp_path / "timer-accuracy.json").write_text(json.dumps(report))
    print("timer lateness:", report)
