"""``durable fuzz``: run the fault-injection fuzzer, write a report, exit non-zero on violations.

A failing run writes a reproduction file next to the report (``<report>.repro.json``; seed,
settings, the programs involved and all programs). ``--replay FILE`` re-runs exactly those
programs under the same seed's fault schedule; ``--shrink N`` then tries up to N smaller
variants (fewer programs, then fewer commands) and keeps the smallest that still fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .programs import Program


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def _progress_display(duration: float) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """A live bar over the workload phase (then the liveness check), on a terminal only."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("fuzzing", total=duration, stats="")

        def show(p: dict[str, Any]) -> None:
            phase = "fuzzing" if p["remaining_s"] > 0 else "liveness check"
            stats = (f"{p['done']}/{p['programs']} programs done, {p['server_kills']} server kills, "
                     f"{p['sdk_kills']} SDK kills, {p['proxy_faults']} proxy faults")
            bar.update(task, completed=duration - p["remaining_s"], description=phase, stats=stats)

        yield show


def register(app: typer.Typer) -> None:
    """Add the fuzz command to the top-level app."""

    @app.command("fuzz")
    def fuzz(
        seed: Annotated[int, typer.Option(help="Seed of the programs and of the fault schedule.")] = 1,
        duration: Annotated[float, typer.Option(help="Seconds of workload under faults.")] = 60.0,
        report: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("fuzz-report.json"),
        replay: Annotated[Path | None, typer.Option(help="Re-run a reproduction file.")] = None,
        shrink: Annotated[int, typer.Option(help="On failure, try up to N smaller reproductions.")] = 0,
        ingress: Annotated[str | None, typer.Option(help="Ingress URL of an implementation to test.")] = None,
        admin: Annotated[str | None, typer.Option(help="Admin URL of that implementation.")] = None,
        workdir: Annotated[Path | None, typer.Option(help="Data dir, logs and ledger (default: a temp dir).")] = None,
        concurrency: Annotated[int, typer.Option(help="Programs in flight at once.")] = 256,
        liveness_bound: Annotated[float, typer.Option(help="Seconds after the final heal for every accepted invocation to complete.")] = 60.0,
        always_suspend: Annotated[bool, typer.Option(help="Start the embedded server in always-suspend mode.")] = False,
        process_faults: Annotated[bool, typer.Option(help="Kill/stop the server and SDK processes.")] = True,
        proxy_faults: Annotated[bool, typer.Option(help="Inject faults between server and SDK.")] = True,
        require_coverage: Annotated[bool, typer.Option(help="Fail when a command or fault kind never ran.")] = True,
        proxy_probability: Annotated[float, typer.Option(
            help="Share of server-SDK requests (and submissions) that get a fault in fault phases.")] = 0.15,
        fault_seconds: Annotated[float, typer.Option(help="Length of each fault phase.")] = 4.0,
        heal_seconds: Annotated[float, typer.Option(help="Length of each heal phase.")] = 2.0,
        server_cmd: Annotated[str | None, typer.Option(
            help="Command that starts the server under test (it gets --data-dir, --ingress-port "
                 "and --admin-port appended); default: durable server.")] = None,
        server_log_level: Annotated[str, typer.Option(
            help="Log level of the embedded server (info: every request and failed attempt).")] = "warning",
        keys_per_layer: Annotated[int, typer.Option(
            help="Virtual-object keys per interpreter layer (0: twice the concurrency, at least "
                 "64, so that about one program in two shares its key with another in flight).")] = 0,
        transport: Annotated[str, typer.Option(
            help="Transport mode of the embedded server: mixed (streaming or request/response, "
                 "seeded, at every restart), stream, request_response.")] = "mixed",
    ) -> None:
        """Fault-injection fuzzer: random programs under crashes and network faults."""
        from .programs import GenConfig
        from .runner import RunConfig, involved_programs, run

        if (ingress is None) != (admin is None):
            raise typer.BadParameter("--ingress and --admin go together")
        if transport not in ("mixed", "stream", "request_response"):
            raise typer.BadParameter("--transport is mixed, stream or request_response")
        programs: list[Program] | None = None
        if replay is not None:
            repro = json.loads(replay.read_text())
            seed = int(repro["seed"])
            duration = float(repro.get("duration", duration))
            programs = repro.get("programs") or repro.get("all_programs")
        base = workdir or Path(tempfile.mkdtemp(prefix="durable-fuzz-"))

        def config(progs: list[Program] | None, tag: str, progress: Any = None) -> RunConfig:
            return RunConfig(
                seed=seed, duration=duration, workdir=base / tag, ingress=ingress, admin=admin,
                always_suspend=always_suspend, concurrency=concurrency,
                liveness_bound_s=liveness_bound, process_faults=process_faults,
                proxy_faults=proxy_faults, programs=progs,
                require_coverage=require_coverage and progs is None,
                fault_s=fault_seconds, heal_s=heal_seconds, proxy_probability=proxy_probability, server_log_level=server_log_level,
                server_argv=shlex.split(server_cmd) if server_cmd else None,
                progress=progress, transport=transport,
                gen=GenConfig(keys_per_layer=keys_per_layer or max(64, 2 * concurrency)),
            )

        with _progress_display(duration) as show:
            result, submitted = asyncio.run(run(config(programs, f"run-{seed}-{int(time.time())}", show)))
        violations = result["violations"]
        keep = bool(violations) or workdir is not None
        result["workdir"] = str(base) if keep else None
        _write(report, result)
        counts: dict[str, int] = result.get("violation_counts") or {}
        by_kind = f" ({', '.join(f'{k}: {n}' for k, n in sorted(counts.items()))})" if counts else ""
        typer.echo(
            f"seed {seed}: {result['programs']} programs, {result['invocations']} invocations, "
            f"{result['server_kills']} server kills, {result['sdk_kills']} SDK kills, "
            f"{result['proxy_faults']} proxy faults, "
            f"{sum(counts.values()) or len(violations)} violations{by_kind} "
            f"(report: {report}" + (f", logs: {base})" if keep else ")")
        )
        if not violations:
            if not keep:  # nothing to investigate: do not leave data dirs behind
                shutil.rmtree(base, ignore_errors=True)
            return
        for v in violations[:20]:
            typer.echo(f"  VIOLATION {v['kind']}: {v.get('pid', '')} {v['detail']}", err=True)
        involved = involved_programs(result, submitted) or submitted
        repro_path = report.with_suffix(".repro.json")
        _write(repro_path, {"seed": seed, "duration": duration, "programs": involved,
                            "all_programs": submitted, "violations": violations})
        typer.echo(f"reproduction: durable fuzz --replay {repro_path}", err=True)
        if shrink > 0:
            from .shrink import shrink as do_shrink

            smallest = asyncio.run(do_shrink(lambda progs, i: run(config(progs, f"shrink-{i}")),
                                             involved, shrink))
            if smallest is not None:
                _write(repro_path, {"seed": seed, "duration": duration, "programs": smallest,
                                    "all_programs": submitted, "violations": violations,
                                    "shrunk": True})
                typer.echo(f"shrunk to {len(smallest)} program(s): {repro_path}", err=True)
        raise typer.Exit(1)
