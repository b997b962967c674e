"""``durable conformance run | list | sdk``.

``run`` without target options starts the embedded reference stack (our server + our test
services) once per mode (the server half includes the wire cases ``WIRE-S-*``, in which the kit
plays a scripted SDK deployment on a loopback port, see :mod:`conformance.wire`); ``--target restate`` does the same with the real Restate server and
restate-sdk; ``--ingress/--admin/--services`` tests an implementation someone else started.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fnmatch
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import exclusions as excl_mod
from . import profile as profile_mod
from .model import Case, CaseResult, Mode, Verdict
from .registry import select
from .report import load_requirements, matrix_md, uncovered_must, write_reports
from .runner import run_cases, summarize
from .stack import StackError, register, started, started_services
from .target import Target

app = typer.Typer(no_args_is_help=True, help="The conformance kit: server half (run) and SDK half (sdk).")
console = Console(stderr=True)

#: the bound (WIRE-STREAM-11) the kit gives the reference services it starts for the SDK half
SDK_STREAM_IDLE_S = 10.0
#: the session age bound (WIRE-WARM-2) the kit gives them
SDK_SESSION_IDLE_S = 6.0
SDK_STREAM_ENV = {"DURABLE_CONFORMANCE_STREAM_IDLE_S": str(SDK_STREAM_IDLE_S),
                  "DURABLE_CONFORMANCE_SESSION_IDLE_S": str(SDK_SESSION_IDLE_S)}

_COLORS = {"PASS": "green", "NON-STRICT": "yellow", "FAIL": "red", "UNIMPLEMENTED": "blue", "SKIPPED": "dim"}


def _modes(mode: str) -> list[Mode]:
    if mode in ("all", "both"):
        return [Mode.DEFAULT, Mode.ALWAYS_SUSPEND]
    return [Mode(mode)]


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.fields[label]}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=console, disable=quiet, transient=False,
    )


def _run_mode(progress: Progress, target: Target, mode: Mode, only: list[str], concurrency: int,
              quiet: bool) -> list[CaseResult]:
    cases = select(only)
    task = progress.add_task("", total=len(cases), label=f"[bold]{target.name}[/] {mode.value}")
    counts = {v.value: 0 for v in Verdict}

    def tick(r: CaseResult) -> None:
        counts[r.verdict.value] += 1
        desc = " ".join(f"[{_COLORS[k]}]{k}:{n}[/]" for k, n in counts.items() if n)
        progress.update(task, advance=1, description=desc)
        if r.verdict is Verdict.FAIL and not quiet:
            progress.console.print(f"[red]FAIL[/] {r.case.id} ({mode.value}) {r.case.title}: {r.message[:200]}")

    return asyncio.run(run_cases(cases, target, mode, concurrency, tick))


def _stack_mode(progress: Progress, kind: str, mode: Mode, prof: profile_mod.Profile, only: list[str],
                concurrency: int, quiet: bool) -> list[CaseResult]:
    """Start a fresh stack for one mode and run the cases against it (one thread per mode)."""
    with started(kind, mode is Mode.ALWAYS_SUSPEND) as stack:
        tgt = Target(kind, stack.ingress, stack.admin, stack.services, prof.capabilities, prof.differences,
                     stack.control(), prof.lacks_reasons)
        return _run_mode(progress, tgt, mode, only, concurrency, quiet)


def _sdk_half(progress: Progress, only: list[str]) -> list[CaseResult]:
    from .sdk.runner import run_sdk_cases

    n = len(_sdk_selected(only))
    task = progress.add_task("", total=n, label="[bold]reference_sdk[/] sdk")
    with started_services("conformance.services.reference", SDK_STREAM_ENV) as url:
        out = asyncio.run(run_sdk_cases(url, only, stream_idle_s=SDK_STREAM_IDLE_S, session_idle_s=SDK_SESSION_IDLE_S))
    progress.update(task, completed=n, description=" ".join(
        f"[{_COLORS[k]}]{k}:{v}[/]" for k, v in summarize(out).items() if v))
    return out


def _sdk_selected(patterns: list[str]) -> list[Case]:
    from .sdk.cases import all_sdk_cases

    return [c for c in all_sdk_cases()
            if not patterns or any(fnmatch.fnmatchcase(c.id, p) or any(fnmatch.fnmatchcase(r, p) for r in c.requirements)
                                   for p in patterns)]


def _print_summary(results: list[CaseResult], modes: list[Mode]) -> None:
    table = Table(title="conformance summary")
    table.add_column("mode")
    for v in Verdict:
        table.add_column(v.value)
    for m in modes:
        s = summarize([r for r in results if r.mode is m])
        table.add_row(m.value, *[f"[{_COLORS[v.value]}]{s[v.value]}[/]" for v in Verdict])
    console.print(table)


@app.command("run")
def run(
    ingress: Annotated[str | None, typer.Option(help="ingress URL of a running implementation")] = None,
    admin: Annotated[str | None, typer.Option(help="admin URL of a running implementation")] = None,
    services: Annotated[str | None, typer.Option(help="URL of the test services (registered via admin)")] = None,
    target: Annotated[str, typer.Option(help="reference | restate: the stack the kit starts itself")] = "reference",
    only: Annotated[list[str] | None, typer.Option(help="case or requirement id glob (repeatable)")] = None,
    mode: Annotated[str | None, typer.Option(
        help="default | always-suspend | all (default: all for stacks the kit starts, default for --ingress)")] = None,
    report: Annotated[Path, typer.Option(help="write index.json, junit.xml, summary.md here")] = Path("conformance-report"),
    exclusions: Annotated[Path | None, typer.Option(help="known failures (YAML/JSON); exit 1 only on new ones")] = None,
    profile: Annotated[str | None, typer.Option(help="profile name or file (capabilities, differences)")] = None,
    concurrency: Annotated[int, typer.Option(help="cases run at once")] = 24,
    quiet: Annotated[bool, typer.Option(help="no live progress")] = False,
    sdk_half: Annotated[bool | None, typer.Option("--sdk/--no-sdk",
        help="also run the SDK half against our reference services (default: on for --target reference)")] = None,
) -> None:
    """Run the conformance cases (server half, both modes; plus the SDK half for our stack).

    Exits non-zero on any FAIL that is neither excluded nor explained by the profile."""
    external = ingress is not None or admin is not None
    modes = _modes(mode or ("default" if external else "all"))
    excl = excl_mod.load(exclusions)
    if external and not (ingress and admin):
        raise typer.BadParameter("--ingress and --admin go together")
    kind = "url" if external else target
    prof = profile_mod.load(profile or (kind if kind in ("reference", "restate") else None))
    results: list[CaseResult] = []
    started_at = time.monotonic()
    with_sdk = bool(sdk_half if sdk_half is not None else kind == "reference" and mode is None) and bool(
        _sdk_selected(only or []))
    with _progress(quiet) as progress:
        if external:
            assert ingress and admin
            if services:
                register(admin.rstrip("/"), services.rstrip("/"))
            tgt = Target(prof.name if profile else "implementation", ingress, admin, services, prof.capabilities,
                         prof.differences, None, prof.lacks_reasons)
            for m in modes:
                if m is Mode.ALWAYS_SUSPEND:
                    console.print("[yellow]note[/]: the kit cannot switch an external target's mode; start it in "
                                  "always-suspend mode yourself for this pass")
                results += _run_mode(progress, tgt, m, only or [], concurrency, quiet)
        else:
            if kind not in ("reference", "restate"):
                raise typer.BadParameter(f"unknown target {kind!r}")
            # One stack per mode, run side by side: most of a case's time is spent waiting (timers,
            # retries, polling), so two stacks share two cores well.
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(modes) + 1) as pool:
                futures = [pool.submit(_stack_mode, progress, kind, m, prof, only or [], concurrency, quiet)
                           for m in modes]
                if with_sdk:
                    futures.append(pool.submit(_sdk_half, progress, only or []))
                try:
                    for f in futures:
                        results += f.result()
                except StackError as exc:
                    console.print(f"[red]could not start the {kind} stack[/]: {exc}")
                    raise typer.Exit(2) from exc
    if with_sdk and not external:
        modes.append(Mode.SDK)
    excl_mod.apply(excl, results)
    _print_summary(results, modes)
    elapsed = time.monotonic() - started_at
    console.print(f"{len(results)} case runs in {elapsed:.1f}s")
    reqs = load_requirements()
    if reqs:
        from .sdk.cases import all_sdk_cases

        must = [r for r in reqs if r["strength"] == "MUST"]
        missing = uncovered_must([*select([]), *all_sdk_cases()], reqs)
        console.print(f"spec coverage: {len(must) - len(missing)} of {len(must)} MUST requirements cited by a case "
                      "(the uncited ones are listed in summary.md)")
    name = prof.name if kind == "url" else kind
    if report:
        write_reports(report, name, [m.value for m in modes], results,
                      select(only or []) + (_sdk_selected(only or []) if Mode.SDK in modes else []),
                      {**prof.differences, **{f"lacks {k}": v for k, v in prof.lacks_reasons.items()}})
        if exclusions is not None or any(r.verdict is Verdict.FAIL for r in results):
            excl_mod.write_new(report / "exclusions.new.yaml", excl_mod.ratchet(excl, results))
        console.print(f"reports in {report}")
    new_fails = [r for r in results if r.verdict is Verdict.FAIL and not r.excluded and not r.explained]
    explained = [r for r in results if r.verdict is Verdict.FAIL and r.explained]
    for r in explained:
        console.print(f"[yellow]explained[/] {r.case.id} ({r.mode.value}): {r.explained}")
    if new_fails:
        console.print(f"[red]{len(new_fails)} failing case run(s)[/]: "
                      + ", ".join(sorted({f'{r.case.id}' for r in new_fails})))
        raise typer.Exit(1)


@app.command("compare")
def compare(
    reports: Annotated[list[Path], typer.Argument(help="report directories (each with index.json)")],
    out: Annotated[Path | None, typer.Option(help="write the markdown matrix here (default: stdout)")] = None,
) -> None:
    """A case x implementation matrix from several reports (``run --report DIR``)."""
    docs: dict[str, dict[str, object]] = {}
    for d in reports:
        doc = json.loads((d / "index.json").read_text())
        docs[f"{doc.get('implementation', d.name)} ({d.name})"] = doc
    md = "# Conformance matrix\n\n" + matrix_md(docs)
    if out is None:
        sys.stdout.write(md)
    else:
        out.write_text(md)


@app.command("list")
def list_cases(
    only: Annotated[list[str] | None, typer.Option(help="case or requirement id glob")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """List the cases with their requirement ids, strength and capabilities (no run)."""
    cases = select(only or [])
    if as_json:
        sys.stdout.write(json.dumps([{"id": c.id, "title": c.title, "requirements": list(c.requirements),
                                      "strength": c.strength.value, "capabilities": list(c.capabilities),
                                      "modes": [m.value for m in c.modes]} for c in cases], indent=1) + "\n")
        return
    table = Table(title=f"{len(cases)} cases")
    for col in ("id", "title", "requirements", "strength", "capabilities"):
        table.add_column(col)
    for c in cases:
        table.add_row(c.id, c.title, ", ".join(c.requirements), c.strength.value, ", ".join(c.capabilities))
    Console().print(table)


@app.command("sdk")
def sdk(
    endpoint: Annotated[str | None, typer.Option(help="SDK endpoint URL serving the spec/08 services; "
                                                      "default: start conformance.services.reference")] = None,
    only: Annotated[list[str] | None, typer.Option(help="case or requirement id glob")] = None,
    report: Annotated[Path | None, typer.Option(help="write index.json, junit.xml, summary.md here")] = None,
    stream_idle_bound: Annotated[float | None, typer.Option(
        help="seconds the endpoint waits for a next turn after a suspension before it ends a stream "
             "(WIRE-STREAM-11); without it SDK-109 is SKIPPED for an --endpoint")] = None,
    session_idle_bound: Annotated[float | None, typer.Option(
        help="seconds after which the endpoint drops a held session (WIRE-WARM-2); without it SDK-036 is "
             "SKIPPED for an --endpoint")] = None,
) -> None:
    """SDK half: the kit acts as the server and drives an SDK endpoint with hand-written journals."""
    from .sdk.cases import all_sdk_cases
    from .sdk.runner import run_sdk_cases

    with contextlib.ExitStack() as stack:
        if endpoint is None:
            endpoint = stack.enter_context(started_services("conformance.services.reference", SDK_STREAM_ENV))
            stream_idle_bound, session_idle_bound = SDK_STREAM_IDLE_S, SDK_SESSION_IDLE_S
        results = asyncio.run(run_sdk_cases(endpoint.rstrip("/"), only or [], stream_idle_s=stream_idle_bound,
                                            session_idle_s=session_idle_bound))
    table = Table(title=f"SDK conformance: {endpoint}")
    for col in ("case", "verdict", "message"):
        table.add_column(col)
    for r in results:
        table.add_row(r.case.id, f"[{_COLORS[r.verdict.value]}]{r.verdict.value}[/]", r.message[:160])
    console.print(table)
    s = summarize(results)
    console.print(" ".join(f"{k}: {v}" for k, v in s.items() if v))
    if report is not None:
        cases = [c for c in all_sdk_cases() if not only or any(fnmatch.fnmatchcase(c.id, p) for p in only)]
        write_reports(report, f"sdk:{endpoint}", ["sdk"], results, cases)
    if any(r.verdict is Verdict.FAIL for r in results):
        raise typer.Exit(1)
