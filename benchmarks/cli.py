"""``durable bench``: the command line of the benchmark (``register(app)`` adds ``bench``).

Typer options map onto a ``runner.Plan``: ``--quick`` is the seconds-long smoke (CI runs it and
never asserts timings), the default is the full plan (many minutes, 100,000 workflows for the
memory figure). ``--stack`` picks reference, restate or both; ``--json`` writes the document,
``--plot`` the figure, ``--profile DIR`` runs a py-spy profile of our stack instead.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


class WorkerClass(StrEnum):
    uvloop = "uvloop"
    asyncio = "asyncio"


class StackChoice(StrEnum):
    reference = "reference"
    restate = "restate"
    both = "both"


def register(app: typer.Typer) -> None:
    """Add ``bench`` to ``app``."""

    @app.command("bench")
    def bench(
        quick: Annotated[bool, typer.Option(help="Short run (under a minute): small batches, 300-workflow memory probe.")] = False,
        stack: Annotated[StackChoice, typer.Option(help="Which stack(s) to measure.")] = StackChoice.both,
        json_out: Annotated[Path | None, typer.Option("--json", help="Write the result document here.")] = None,
        plot: Annotated[Path | None, typer.Option(help="Write the figure (.svg or .png) here.")] = None,
        markdown: Annotated[Path | None, typer.Option(help="Write the result tables (markdown) here.")] = None,
        scale: Annotated[float, typer.Option(help="Multiply the throughput batch sizes.")] = 1.0,
        rounds: Annotated[int | None, typer.Option(help="ABAB rounds per concurrency.")] = None,
        memory_workflows: Annotated[int | None, typer.Option(help="Workflows in the memory probe.")] = None,
        memory_time_limit: Annotated[float | None, typer.Option(help="Seconds the memory probe may take.")] = None,
        skip: Annotated[list[str] | None, typer.Option(help="Skip a part: throughput, steps, resume, memory.")] = None,
        workdir: Annotated[Path | None, typer.Option(help="Keep data and logs here (default: a temp dir).")] = None,
        profile: Annotated[Path | None, typer.Option(help="Profile our stack at c=16 with py-spy into DIR.")] = None,
        profile_seconds: Annotated[float, typer.Option(help="Length of the profiled load.")] = 20.0,
        profile_concurrency: Annotated[int, typer.Option(help="Concurrency of the profiled load.")] = 16,
        sdk_worker_class: Annotated[WorkerClass, typer.Option(
            help="hypercorn --worker-class of both SDK endpoints (asyncio is hypercorn's default).")] = WorkerClass.uvloop,
        quiesce: Annotated[bool, typer.Option(
            help="Before each throughput batch, wait (at most 5 s) until every stack is idle.")] = False,
    ) -> None:
        """Benchmark the reference stack against Restate 1.7.12 + restate-sdk 1.2.0 (loopback)."""
        from dataclasses import replace

        from benchmarks import report, runner

        command = "durable " + shlex.join(sys.argv[1:])
        if profile is not None:
            from benchmarks.profile import profile_reference

            summary = asyncio.run(profile_reference(profile, profile_seconds, workdir, typer.echo,
                                                    concurrency=profile_concurrency))
            (profile / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            typer.echo(json.dumps(summary, indent=2))
            return
        plan = runner.QUICK if quick else runner.FULL
        plan = runner.scaled(plan, scale)
        if rounds is not None:
            plan = replace(plan, rounds=rounds)
        plan = replace(plan, sdk_worker_class=sdk_worker_class.value, quiesce=quiesce)
        if memory_workflows is not None:
            plan = replace(plan, memory_workflows=memory_workflows)
        if memory_time_limit is not None:
            plan = replace(plan, memory_time_limit_s=memory_time_limit)
        kinds = ["reference", "restate"] if stack is StackChoice.both else [stack.value]
        doc = asyncio.run(runner.run(plan, kinds, workdir, command, typer.echo, frozenset(skip or [])))
        doc["meta"]["mode"] = "quick" if quick else "full"
        text = report.markdown(doc)
        typer.echo(text)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(doc, indent=2) + "\n")
        if markdown is not None:
            markdown.write_text(text + "\n")
        if plot is not None:
            from benchmarks.plot import plot as draw

            draw(doc, plot)
