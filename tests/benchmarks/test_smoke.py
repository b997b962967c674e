"""Smoke test of the harness on the reference stack only, with tiny counts.

It starts our server and the bench services (real processes on loopback), runs every scenario
through ``durable bench`` (the CLI) and checks the shape of the document. Never a timing
assertion: CI machines are noisy and this test is about the harness, not the numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmarks import runner
from benchmarks.cli import register

pytestmark = pytest.mark.e2e

TINY = runner.Plan(
    concurrencies=(1, 4), rounds=1, per_round={1: 3, 4: 8}, batch_time_limit_s=30.0, warmup=2,
    step_sizes=(2, 5), step_reps={2: 1, 5: 1}, resume_steps=3, resume_size=1000,
    memory_workflows=8, memory_chunks=2, memory_concurrency=4, memory_time_limit_s=30.0,
)


def test_bench_quick_reference_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "QUICK", TINY)
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Group, so the command is ``bench``."""

    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, [
        "bench", "--quick", "--stack", "reference", "--json", str(out),
        "--plot", str(tmp_path / "bench.svg"), "--markdown", str(tmp_path / "bench.md"),
        "--workdir", str(tmp_path / "work"),
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    doc = json.loads(out.read_text())
    ours = doc["stacks"]["reference"]
    assert set(ours["throughput"]) == {"c1", "c4"}
    for t in ours["throughput"].values():
        assert t["errors"] == 0 and t["completed"] > 0
        assert t["server_cpu_ms_per_wf"] is not None
    assert ours["server_peak_rss_mb"] > 0 and ours["sdk_peak_rss_mb"] > 0
    assert ours["step_scaling"]["5"]["runs"] == 1
    assert ours["resume"]["result_ok"] is True
    assert ours["memory"]["workflows_measured"] > 0
    assert ours["durability"]["verified"].startswith("yes")
    assert doc["ratios"] == {}  # one stack: no ratios
    assert "per_step_ratio_1000_vs_10" in doc["step_scaling"]
    assert (tmp_path / "bench.svg").exists() and (tmp_path / "bench.md").exists()
