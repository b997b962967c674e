"""Run a whole benchmark: start the stacks, alternate them, and build the result document.

Why ABAB: on a noisy 2-core machine the load from other processes drifts over minutes. Both
stacks stay up for the whole run and every measured unit (a throughput batch at one
concurrency, a step-scaling size, the resume) runs on A then on B, round after round, so both
see the same drift and the ratios hold even when absolute numbers move. Each throughput round
visits every concurrency (c=1 A B, c=16 A B, c=64 A B, then the next round), so drift also hits
the concurrencies alike (ours at c=64 against ours at c=16 is a ratio across time otherwise).
The idle stack stays running while the other is measured (its background work is part of the
noise both see).

The document (``--json``) has ``meta``, ``stacks`` (per stack: throughput per concurrency,
peak RSS, step scaling, resume, memory), ``ratios`` (ours / Restate) and ``step_scaling``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import scenarios, stats
from benchmarks.load import Client, make_client, run_batch, signup_request
from benchmarks.procstat import sample_tree
from benchmarks.stacks import BenchStack, started

__all__ = ["FULL", "QUICK", "Plan", "run"]

MB = 1024.0


@dataclass(frozen=True)
class Plan:
    """How much to measure. ``QUICK`` takes seconds; ``FULL`` takes many minutes."""

    concurrencies: tuple[int, ...] = (1, 16, 64)
    rounds: int = 3
    per_round: dict[int, int] = field(default_factory=lambda: {1: 200, 16: 1500, 64: 2000})
    batch_time_limit_s: float = 60.0
    warmup: int = 64
    step_sizes: tuple[int, ...] = (10, 100, 1000)
    step_reps: dict[int, int] = field(default_factory=lambda: {10: 20, 100: 5, 1000: 3})
    resume_steps: int = 100
    resume_size: int = 100_000
    memory_workflows: int = 100_000
    memory_chunks: int = 20
    memory_concurrency: int = 16
    memory_time_limit_s: float = 1800.0
    #: hypercorn's --worker-class for both SDK endpoints
    sdk_worker_class: str = "uvloop"
    #: before each throughput batch, wait until every stack is idle (see scenarios.quiesce)
    quiesce: bool = False


FULL = Plan()
QUICK = Plan(rounds=2, per_round={1: 20, 16: 96, 64: 192}, batch_time_limit_s=10.0, warmup=16,
             step_reps={10: 3, 100: 1, 1000: 1}, memory_workflows=300, memory_chunks=3,
             memory_time_limit_s=20.0)


def scaled(plan: Plan, factor: float) -> Plan:
    """``plan`` with the throughput batch sizes multiplied by ``factor`` (at least 1 each)."""
    return replace(plan, per_round={c: max(1, round(n * factor)) for c, n in plan.per_round.items()})


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_gb": round(mem_kb / MB / MB, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


def fsync_probe(directory: Path, n: int = 200) -> dict[str, float | None]:
    """p50 / p99 ms of a 4 KiB ``write`` + ``fsync`` in ``directory`` (the disk both stores use)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fsync-probe"
    lat: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            lat.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    p50, p99 = stats.percentile(lat, 50), stats.percentile(lat, 99)
    return {"p50_ms": None if p50 is None else p50 * 1000, "p99_ms": None if p99 is None else p99 * 1000}


def git_revision() -> str:
    """HEAD of the work tree, with ``+dirty`` when the server or SDK has uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "reference_server", "reference_sdk",
                                "durable"], cwd=root, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"restate-server": "1.7.12"}
    for dist in ("restate-sdk", "hypercorn", "uvicorn", "httptools", "uvloop"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _aggregate(rounds: list[scenarios.Throughput]) -> dict[str, Any]:
    lat = [x for r in rounds for x in r.latencies_s]
    wall = sum(r.wall_s for r in rounds)
    out = stats.summarize(lat, wall)
    n = len(lat)
    server_cpu = sum(r.server_cpu_s for r in rounds)
    sdk_cpu = sum(r.sdk_cpu_s for r in rounds)
    return {
        **out,
        "errors": sum(r.errors for r in rounds),
        "error_samples": [e for r in rounds for e in r.error_samples][:3],
        "server_cpu_ms_per_wf": server_cpu / n * 1000.0 if n else None,
        "sdk_cpu_ms_per_wf": sdk_cpu / n * 1000.0 if n else None,
        "server_ctx_switches_per_wf": sum(r.server_switches for r in rounds) / n if n else None,
        "sdk_ctx_switches_per_wf": sum(r.sdk_switches for r in rounds) / n if n else None,
        "rounds_throughput": [round(len(r.latencies_s) / r.wall_s, 1) if r.wall_s else None
                              for r in rounds],
        "stopped_by_deadline": any(r.stopped_by_deadline for r in rounds),
        "others_cpu_ms_per_wf": sum(r.others_cpu_s for r in rounds) / n * 1000.0 if n else None,
        "quiesce_s": [round(r.quiesce_s, 2) for r in rounds],
    }


def ratios(doc_stacks: dict[str, Any]) -> dict[str, float | None]:
    """ours / Restate for every headline number both stacks have."""
    ours, theirs = doc_stacks.get("reference"), doc_stacks.get("restate")
    if not ours or not theirs:
        return {}
    out: dict[str, float | None] = {}
    for c in sorted({*ours["throughput"], *theirs["throughput"]}):
        a, b = ours["throughput"].get(c, {}), theirs["throughput"].get(c, {})
        n = c[1:]
        out[f"throughput_c{n}"] = stats.ratio(a.get("throughput"), b.get("throughput"))
        out[f"p50_c{n}"] = stats.ratio(a.get("p50_ms"), b.get("p50_ms"))
        out[f"p99_c{n}"] = stats.ratio(a.get("p99_ms"), b.get("p99_ms"))
        out[f"server_cpu_per_wf_c{n}"] = stats.ratio(a.get("server_cpu_ms_per_wf"),
                                                     b.get("server_cpu_ms_per_wf"))
    out["server_peak_rss"] = stats.ratio(ours.get("server_peak_rss_mb"), theirs.get("server_peak_rss_mb"))
    out["sdk_peak_rss"] = stats.ratio(ours.get("sdk_peak_rss_mb"), theirs.get("sdk_peak_rss_mb"))
    out["resume_large_journal"] = stats.ratio(ours.get("resume", {}).get("resume_ms"),
                                              theirs.get("resume", {}).get("resume_ms"))
    for n in ("10", "1000"):
        out[f"per_step_{n}"] = stats.ratio(
            ours.get("step_scaling", {}).get(n, {}).get("per_step_ms"),
            theirs.get("step_scaling", {}).get(n, {}).get("per_step_ms"))
    return out


def step_ratio(scaling: dict[str, Any], big: str = "1000", small: str = "10") -> float | None:
    return stats.ratio(scaling.get(big, {}).get("per_step_ms"), scaling.get(small, {}).get("per_step_ms"))


def marginal_step_ms(scaling: dict[str, Any], big: str = "1000", small: str = "10") -> float | None:
    """(latency at ``big`` - latency at ``small``) / (big - small): the cost of one more step,
    without the fixed per-workflow part that inflates the small workflow's per-step figure."""
    a = scaling.get(big, {}).get("latency_p50_ms")
    b = scaling.get(small, {}).get("latency_p50_ms")
    if a is None or b is None or int(big) == int(small):
        return None
    return float(a - b) / (int(big) - int(small))


async def run(plan: Plan, kinds: list[str], workdir: Path | None = None, command: str = "",
              log: Callable[[str], None] = print, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Start ``kinds``, measure per ``plan`` alternating them, stop them; return the document."""
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command, "machine": machine(), "loadavg_start": loadavg(),
        "versions": _versions(), "git": git_revision(),
        "plan": {k: v for k, v in plan.__dict__.items()},
        "stacks_alive_together": True,
    }
    wd = Path(tempfile.mkdtemp(prefix="durable-bench-")) if workdir is None else workdir
    t_start = time.perf_counter()
    meta["fsync_4k"] = fsync_probe(wd)
    with contextlib.ExitStack() as es:
        stacks: dict[str, BenchStack] = {}
        for kind in kinds:
            log(f"starting {kind} stack in {wd / kind}")
            stacks[kind] = es.enter_context(started(kind, wd / kind, plan.sdk_worker_class))
        clients: dict[str, Client] = {}
        async with contextlib.AsyncExitStack() as aes:
            for kind, st in stacks.items():
                clients[kind] = await aes.enter_async_context(make_client(st.ingress))
            doc = await _measure(plan, stacks, clients, log, skip)
    meta["loadavg_end"] = loadavg()
    meta["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    meta["workdir"] = str(wd)
    return {"meta": meta, **doc}


async def _measure(plan: Plan, stacks: dict[str, BenchStack], clients: dict[str, Client],
                   log: Callable[[str], None], skip: frozenset[str]) -> dict[str, Any]:
    keys = {k: scenarios.Keys(f"{k[:3]}{int(time.time())}") for k in stacks}
    out: dict[str, dict[str, Any]] = {k: {"durability": s.durability} for k, s in stacks.items()}
    for kind, st in stacks.items():
        warm = await run_batch(clients[kind], keys[kind].take(plan.warmup), signup_request, 16, 30.0)
        log(f"{kind}: warm-up {len(warm.latencies_s)} ok, {warm.errors} errors {warm.error_samples[:1]}")
        if not warm.latencies_s:
            raise RuntimeError(f"{kind}: no workflow completed during warm-up\n{st.logs()}")

    if "throughput" not in skip:
        per: dict[str, dict[int, list[scenarios.Throughput]]] = {k: {} for k in stacks}
        # round after round, every concurrency in turn: drift hits each concurrency alike,
        # which ours-c64 / ours-c16 (a ratio across concurrencies, not stacks) needs
        for r in range(plan.rounds):
            for c in plan.concurrencies:
                for kind, st in stacks.items():
                    others = tuple(o for k, o in stacks.items() if k != kind)
                    waited = await scenarios.quiesce(tuple(stacks.values())) if plan.quiesce else 0.0
                    tp = await scenarios.throughput(st, clients[kind], keys[kind], c, plan.per_round[c],
                                                    plan.batch_time_limit_s, others)
                    tp.quiesce_s = waited
                    per[kind].setdefault(c, []).append(tp)
                    rate = len(tp.latencies_s) / tp.wall_s if tp.wall_s else 0.0
                    log(f"c={c:<3} round {r + 1}/{plan.rounds} {kind:<9} {rate:8.1f} wf/s "
                        f"errors={tp.errors} (waited {waited:.2f} s for quiet; others used "
                        f"{tp.others_cpu_s:.2f} s CPU meanwhile)")
        for kind in stacks:
            out[kind]["throughput"] = {f"c{c}": _aggregate(rs) for c, rs in per[kind].items()}

    if "steps" not in skip:
        for kind in stacks:
            out[kind]["step_scaling"] = {}
        for n in plan.step_sizes:
            for kind in stacks:
                res = await scenarios.step_scaling(clients[kind], keys[kind], n, plan.step_reps.get(n, 1))
                out[kind]["step_scaling"][str(n)] = res
                log(f"steps={n:<5} {kind:<9} per-step {res['per_step_ms']} ms")
        for kind in stacks:
            sc = out[kind]["step_scaling"]
            sc["per_step_ratio_1000_vs_10"] = step_ratio(sc)
            sc["marginal_per_step_ms_10_to_1000"] = marginal_step_ms(sc)

    if "resume" not in skip:
        for kind in stacks:
            res = await scenarios.resume(clients[kind], keys[kind], plan.resume_steps, plan.resume_size)
            out[kind]["resume"] = res
            log(f"resume   {kind:<9} {res}")

    for kind, st in stacks.items():
        out[kind]["server_peak_rss_mb"] = sample_tree(st.server_pid).hwm_kb / MB
        out[kind]["sdk_peak_rss_mb"] = sample_tree(st.sdk_pid).hwm_kb / MB
        out[kind]["workflows_invoked_before_memory"] = keys[kind].n

    if "memory" not in skip:
        for kind, st in stacks.items():
            res = await scenarios.memory(st, clients[kind], keys[kind], plan.memory_workflows,
                                         plan.memory_chunks, plan.memory_concurrency,
                                         plan.memory_time_limit_s)
            out[kind]["memory"] = res
            log(f"memory   {kind:<9} {res['workflows_measured']} wf -> {res['rss_mb_at_end']:.1f} MB")

    ours = out.get("reference", {}).get("step_scaling", {})
    return {
        "stacks": out,
        "ratios": ratios(out),
        "step_scaling": {
            "per_step_ratio_1000_vs_10": step_ratio(ours) if ours else None,
            "per_stack": {k: v.get("step_scaling", {}).get("per_step_ratio_1000_vs_10")
                          for k, v in out.items()},
        },
    }
