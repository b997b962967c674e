"""Unit tests of the benchmark's pure helpers: statistics, /proc parsing, profile summaries,
reports, ratios, the fallback SVG, and the rule that both bench apps run the same code."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from benchmarks import procstat, profile, report, runner, stats
from benchmarks.plot import svg_bars
from benchmarks.stacks import _toml_keys


def test_percentile_interpolates_and_handles_edges() -> None:
    assert stats.percentile([], 50) is None
    assert stats.percentile([5.0], 99) == 5.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], 0) == 1.0
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0
    assert stats.percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_summarize_throughput_and_ms() -> None:
    s = stats.summarize([0.010, 0.020, 0.030], wall_s=0.5)
    assert s["completed"] == 3
    assert s["throughput"] == pytest.approx(6.0)
    assert s["p50_ms"] == pytest.approx(20.0)
    assert s["mean_ms"] == pytest.approx(20.0)
    empty = stats.summarize([], wall_s=1.0)
    assert empty["throughput"] is None and empty["p99_ms"] is None


def test_ratio_and_linear_fit() -> None:
    assert stats.ratio(2.0, 4.0) == 0.5
    assert stats.ratio(None, 4.0) is None
    assert stats.ratio(1.0, 0.0) is None
    fit = stats.linear_fit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
    assert fit is not None and fit[0] == pytest.approx(2.0) and fit[1] == pytest.approx(1.0)
    assert stats.linear_fit([1.0, 1.0], [2.0, 3.0]) is None
    assert stats.linear_fit([1.0], [2.0]) is None


def test_parse_stat_with_awkward_command_name() -> None:
    line = "42 (we ird) (x)) S 7 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1000 1 1"
    assert procstat.parse_stat_times(line) == (7, 250, 75)


def test_parse_status() -> None:
    text = "Name:\tpython\nVmHWM:\t  123456 kB\nVmRSS:\t  100 kB\nvoluntary_ctxt_switches:\t9\n"
    assert procstat.parse_status_kb(text, "VmHWM") == 123456
    assert procstat.parse_status_kb(text, "voluntary_ctxt_switches") == 9
    assert procstat.parse_status_kb(text, "VmSwap") == 0


def test_sample_tree_of_this_process() -> None:
    s = procstat.sample_tree(os.getpid())
    assert os.getpid() in s.pids
    assert s.cpu_s > 0 and s.rss_kb > 0 and s.hwm_kb >= s.rss_kb and s.ctx_switches > 0


def test_profile_layers_and_summary() -> None:
    raw = [
        "thread (1): MainThread;run (asyncio/base_events.py:1);_write_loop (reference_server/store/sqlite.py:165) 30",
        "thread (1): MainThread;run (asyncio/base_events.py:1);post (httpx/_client.py:10) 10",
        "thread (2): durable-read_0;_worker (concurrent/futures/thread.py:81) 60",
        "garbage line",
    ]
    samples = profile.parse_raw(raw)
    assert len(samples) == 3
    summary = profile.summarize_raw(samples, wall_samples=100)
    assert summary["samples"] == 100
    assert summary["by_layer"]["store (SQLite, commit/fsync)"] == 30.0
    assert summary["by_layer"]["HTTP client (httpx/httpcore)"] == 10.0
    assert summary["by_layer"][profile.WAIT] == 60.0
    assert summary["by_thread_busy_pct_of_wall"] == {"MainThread": 40.0}
    assert any("_write_loop" in k for k in summary["top_inclusive"])


def _doc() -> dict[str, Any]:
    def tp(rate: float, p50: float) -> dict[str, Any]:
        return {"throughput": rate, "p50_ms": p50, "p99_ms": p50 * 3, "server_cpu_ms_per_wf": 2.0,
                "sdk_cpu_ms_per_wf": 1.0, "errors": 0}

    def stack(rate: float, p50: float, step: float) -> dict[str, Any]:
        return {
            "throughput": {"c1": tp(rate, p50), "c16": tp(rate * 3, p50 * 5)},
            "server_peak_rss_mb": 50.0, "sdk_peak_rss_mb": 40.0,
            "step_scaling": {"10": {"per_step_ms": step}, "1000": {"per_step_ms": step * 1.2}},
            "resume": {"resume_ms": 10.0},
            "memory": {"points": [{"workflows": 10, "rss_mb": 50.0}], "workflows_measured": 10,
                       "rss_mb_at_end": 50.0, "rss_mb_at_100000": 60.0,
                       "rss_mb_at_100000_is_extrapolated": True},
        }

    stacks = {"reference": stack(200.0, 4.0, 1.0), "restate": stack(100.0, 8.0, 2.0)}
    return {"meta": {"mode": "quick"}, "stacks": stacks, "ratios": runner.ratios(stacks)}


def test_ratios_are_ours_over_restate() -> None:
    r = _doc()["ratios"]
    assert r["throughput_c1"] == pytest.approx(2.0)
    assert r["throughput_c16"] == pytest.approx(2.0)
    assert r["p50_c1"] == pytest.approx(0.5)
    assert r["p99_c16"] == pytest.approx(0.5)
    assert r["per_step_10"] == pytest.approx(0.5)
    assert runner.ratios({"reference": _doc()["stacks"]["reference"]}) == {}
    assert runner.step_ratio(_doc()["stacks"]["reference"]["step_scaling"]) == pytest.approx(1.2)
    scaling = {"10": {"latency_p50_ms": 30.0}, "1000": {"latency_p50_ms": 1020.0}}
    assert runner.marginal_step_ms(scaling) == pytest.approx(1.0)
    assert runner.marginal_step_ms({"10": {"latency_p50_ms": 30.0}}) is None


def test_markdown_report_and_svg() -> None:
    doc = _doc()
    text = report.markdown(doc)
    assert "| reference | 16 | 600.0 |" in text
    assert "(extrapolated)" in text
    ET.fromstring(svg_bars(doc))  # well-formed


def test_scaled_plan_keeps_at_least_one() -> None:
    plan = runner.scaled(runner.QUICK, 0.001)
    assert all(n >= 1 for n in plan.per_round.values())


def test_toml_keys_picks_sections() -> None:
    text = '[a]\nx = 1\n[log-server]\nrocksdb-disable-wal-fsync = false\ny = "z"\n'
    assert _toml_keys(text, {"log-server": ["rocksdb-disable-wal-fsync"]}) == {
        "log-server.rocksdb-disable-wal-fsync": "false"}


def test_both_bench_apps_run_the_same_workflow_code() -> None:
    here = Path(__file__).resolve().parents[2] / "benchmarks" / "services"
    marker = "# ---- the workflow code"

    def body(name: str) -> str:
        text = (here / name).read_text()
        assert marker in text
        return text[text.index(marker):]

    assert body("reference_app.py") == body("restate_app.py")
