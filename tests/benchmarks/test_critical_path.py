"""The critical-path breakdown: marks of two processes lined up per workflow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks.critical_path import _measure, analyse


def workflow(t0: int, commit_us: int) -> list[tuple[int, str]]:
    """Marks of one workflow: (label, microseconds since the previous mark)."""
    steps = [("S:ING>", 0), ("S:COMMIT>", 100), ("S:COMMIT<", commit_us), ("S:TURN>", 50),
             ("K:RX", 50), ("K:RX", 10), ("K:TURN>", 90), ("K:RUN>", 50), ("K:RUN<", 100),
             ("K:TURN<", 50), ("S:RX", 50), ("S:TURN<", 50), ("S:COMMIT>", 100),
             ("K:RX", 50), ("S:RX", 10), ("S:COMMIT<", commit_us - 60), ("S:ING<", 100)]
    out, t = [], t0
    for label, us in steps:
        t += us * 1000
        out.append((t, label))
    return out


def test_hops_are_medians_and_summed_by_kind() -> None:
    marks = [m for i, us in enumerate((500, 600, 700)) for m in workflow(i * 10_000_000, us)]
    result = analyse(marks)
    assert result["workflows"] == 3 and result["with_the_common_sequence"] == 3
    hops = {(h["from"], h["to"]): h["median_us"] for h in result["hops"]}
    assert hops[("K:RX", "K:TURN>")] == 100.0  # the second K:RX of a turn is ignored
    assert hops[("K:RUN>", "K:RUN<")] == 100.0
    assert ("K:RX", "S:RX") not in hops  # bytes during the last commit belong to the commit
    assert result["commits_per_workflow"] == 2 and result["turns_per_workflow"] == 1
    assert result["by_kind_us"]["run closure thread hop"] == 100.0
    assert hops[("S:COMMIT>", "S:COMMIT<")] == 600.0  # the median over the three workflows
    assert result["median_latency_us"] == 800.0 + 2 * 600


@pytest.mark.e2e
def test_the_real_stack_yields_every_kind_of_hop(tmp_path: Path) -> None:
    """The tracepoints still wrap the functions they name: a short run over the real processes."""
    result = analyse(asyncio.run(_measure(8, tmp_path)))
    assert result["workflows"] == 8
    assert result["commits_per_workflow"] == 5 and result["turns_per_workflow"] == 4
    assert {"store commit (fsync)", "server CPU", "SDK CPU", "run closure thread hop",
            "transfer server -> SDK", "transfer SDK -> server"} <= set(result["by_kind_us"])
