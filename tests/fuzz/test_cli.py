"""``durable fuzz``: a failing run writes a reproduction that ``--replay`` re-runs; shrinking."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from fuzz.cli import register
from fuzz.programs import Gen, Program
from fuzz.shrink import candidates, shrink


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer in sub-command mode
        pass

    return app


def test_failing_run_writes_a_reproduction_that_replays(tmp_path: Path) -> None:
    broken = f"{sys.executable} -m tests.fuzz.broken_server stale-responses"
    common = ["--duration", "3", "--no-process-faults", "--no-proxy-faults", "--concurrency", "6",
              "--liveness-bound", "3", "--server-cmd", broken]
    report = tmp_path / "report.json"
    res = CliRunner().invoke(_app(), ["fuzz", "--seed", "3", "--report", str(report),
                                      "--workdir", str(tmp_path / "w1"), *common])
    assert res.exit_code == 1, res.output
    data = json.loads(report.read_text())
    assert data["violations"] and set(data) >= {
        "seed", "programs", "invocations", "server_kills", "sdk_kills", "proxy_faults",
        "violations", "command_histogram", "fault_histogram"}
    repro = tmp_path / "report.repro.json"
    saved = json.loads(repro.read_text())
    assert saved["seed"] == 3 and saved["programs"]
    report2 = tmp_path / "replay.json"
    res2 = CliRunner().invoke(_app(), ["fuzz", "--replay", str(repro), "--report", str(report2),
                                       "--workdir", str(tmp_path / "w2"), *common])
    assert res2.exit_code == 1, res2.output
    replayed = json.loads(report2.read_text())
    assert replayed["programs"] == len(saved["programs"]) and replayed["violations"]


def test_shrink_keeps_the_smallest_failing_variant() -> None:
    progs = Gen(2).programs(3)

    async def replay(cands: list[Program], attempt: int) -> tuple[dict[str, Any], list[Program]]:
        # "fails" while some program still contains a saga command
        bad = any(c["kind"] == "saga" for p in cands for c in p["commands"])
        return {"violations": [{"kind": "x"}] if bad else []}, cands

    progs[1]["commands"].append({"kind": "saga", "steps": 1, "fail_at": 0})
    smallest = asyncio.run(shrink(replay, progs, budget=200))
    assert smallest is not None and len(smallest) == 1
    assert [c["kind"] for c in smallest[0]["commands"]] == ["saga"]
    assert all(len(c) <= len(progs) for c in candidates(progs))
