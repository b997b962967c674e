"""The measured scenarios, each against one running stack.

- ``throughput``: one batch of SignupWorkflows at a given concurrency, with the server's and
  the SDK's CPU seconds sampled from /proc just before and just after the batch.
- ``step_scaling``: StepsWorkflow with n sequential ``ctx.run`` steps, one at a time; per-step
  cost is latency / n. A linear engine keeps it flat as n grows; re-sending or replaying the
  journal at each step makes it grow with n.
- ``resume``: BigJournalWorkflow builds a journal of ``steps * size`` bytes of run results,
  then waits on a durable promise; the client resolves it and times release -> result. This is
  each engine's natural resume path (our SDK keeps the suspended session warm; Restate keeps
  the HTTP/2 stream open until its 1 min inactivity timeout), not a cold replay.
- ``memory``: more SignupWorkflows in chunks, server RSS sampled after each chunk, so RSS can
  be plotted (and, below the full 100,000, extrapolated) against completed workflows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from benchmarks import stats
from benchmarks.load import Client, Request, one, run_batch, signup_request
from benchmarks.procstat import sample_tree
from benchmarks.stacks import BenchStack

__all__ = ["Keys", "memory", "quiesce", "resume", "stacks_cpu_s", "step_scaling", "throughput"]

MB = 1024.0


class Keys:
    """Distinct workflow keys for one stack (a workflow key runs once, ever)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0

    def take(self, count: int) -> list[str]:
        out = [f"{self.prefix}-{self.n + i}" for i in range(count)]
        self.n += count
        return out


@dataclass
class Throughput:
    concurrency: int
    latencies_s: list[float]
    wall_s: float
    errors: int
    error_samples: list[str]
    server_cpu_s: float
    sdk_cpu_s: float
    stopped_by_deadline: bool
    server_switches: int = 0
    sdk_switches: int = 0
    others_cpu_s: float = 0.0  # CPU of the other stacks' processes during this batch
    quiesce_s: float = 0.0  # waited before the batch for every stack to be quiet


async def throughput(stack: BenchStack, client: Client, keys: Keys, concurrency: int,
                     count: int, time_limit_s: float, others: tuple[BenchStack, ...] = ()) -> Throughput:
    o0 = stacks_cpu_s(others)
    s0, k0 = sample_tree(stack.server_pid), sample_tree(stack.sdk_pid)
    batch = await run_batch(client, keys.take(count), signup_request, concurrency, time_limit_s)
    s1, k1 = sample_tree(stack.server_pid), sample_tree(stack.sdk_pid)
    return Throughput(concurrency, batch.latencies_s, batch.wall_s, batch.errors, batch.error_samples,
                      s1.cpu_s - s0.cpu_s, k1.cpu_s - k0.cpu_s, batch.stopped_by_deadline,
                      s1.ctx_switches - s0.ctx_switches, k1.ctx_switches - k0.ctx_switches,
                      stacks_cpu_s(others) - o0)


def stacks_cpu_s(stacks: tuple[BenchStack, ...]) -> float:
    """CPU seconds so far of every process of ``stacks`` (servers and SDK endpoints)."""
    return sum(sample_tree(st.server_pid).cpu_s + sample_tree(st.sdk_pid).cpu_s for st in stacks)


async def quiesce(stacks: tuple[BenchStack, ...], *, window_s: float = 0.25, idle_cores: float = 0.05,
                  max_s: float = 5.0) -> float:
    """Wait (at most ``max_s``) until ``stacks`` together use under ``idle_cores`` over a window:
    the background work one stack does after its batch (a store's flushes and compactions) must
    not run inside the next stack's batch. Returns the seconds waited."""
    t0 = time.perf_counter()
    before = stacks_cpu_s(stacks)
    for _ in range(int(max_s / window_s)):
        await asyncio.sleep(window_s)
        after = stacks_cpu_s(stacks)
        if after - before <= idle_cores * window_s:
            break
        before = after
    return time.perf_counter() - t0


async def step_scaling(client: Client, keys: Keys, n: int, reps: int) -> dict[str, Any]:
    """``reps`` StepsWorkflows of ``n`` steps, sequentially; latency and per-step cost (ms)."""
    lat: list[float] = []
    errors: list[str] = []
    for key in keys.take(reps):
        req = Request("POST", f"/StepsWorkflow/{key}/run", n, n * (n - 1) // 2)
        dt, err = await one(client, req)
        if err is None:
            lat.append(dt)
        else:
            errors.append(err)
    p50 = stats.percentile(lat, 50)
    return {
        "steps": n,
        "runs": len(lat),
        "errors": errors[:3],
        "latency_p50_ms": None if p50 is None else p50 * 1000.0,
        "per_step_ms": None if p50 is None else p50 * 1000.0 / n,
    }


async def resume(client: Client, keys: Keys, steps: int, size: int,
                 settle_s: float = 1.0) -> dict[str, Any]:
    """Build a ``steps * size``-byte journal, let it suspend, then time release -> result."""
    key = keys.take(1)[0]
    base = f"/BigJournalWorkflow/{key}"
    t0 = time.perf_counter()
    r = await client.post(f"{base}/run/send", json={"steps": steps, "size": size})
    if r.status_code >= 300:
        return {"error": f"send: {r.status_code} {r.text[:200]}"}
    r = await client.post(f"{base}/waitReady")
    if r.status_code >= 300:
        return {"error": f"waitReady: {r.status_code} {r.text[:200]}"}
    built = time.perf_counter() - t0
    await asyncio.sleep(settle_s)
    t1 = time.perf_counter()
    r = await client.post(f"{base}/release")
    if r.status_code >= 300:
        return {"error": f"release: {r.status_code} {r.text[:200]}"}
    r = await client.get(f"/restate/workflow/BigJournalWorkflow/{key}/attach")
    resumed = time.perf_counter() - t1
    if r.status_code >= 300:
        return {"error": f"attach: {r.status_code} {r.text[:200]}"}
    return {
        "journal_mb": steps * size / 1e6,
        "steps": steps,
        "build_s": built,
        "resume_ms": resumed * 1000.0,
        "result_ok": r.json() == steps * size + 2,
    }


async def memory(stack: BenchStack, client: Client, keys: Keys, total: int, chunks: int,
                 concurrency: int, time_limit_s: float, target: int = 100_000) -> dict[str, Any]:
    """Run ``total`` more workflows in ``chunks``; server RSS (MB) against completed workflows."""
    points: list[tuple[int, float]] = [(keys.n, sample_tree(stack.server_pid).rss_kb / MB)]
    deadline = time.perf_counter() + time_limit_s
    size = max(1, total // max(1, chunks))
    done = 0
    while done < total and time.perf_counter() < deadline:
        count = min(size, total - done)
        await run_batch(client, keys.take(count), signup_request, concurrency,
                        deadline - time.perf_counter())
        done += count
        points.append((keys.n, sample_tree(stack.server_pid).rss_kb / MB))
    fit = stats.linear_fit([p[0] for p in points[1:]], [p[1] for p in points[1:]])
    measured = points[-1][0]
    extrapolated = None if fit is None else fit[1] + fit[0] * target
    return {
        "points": [{"workflows": w, "rss_mb": m} for w, m in points],
        "workflows_measured": measured,
        "rss_mb_at_end": points[-1][1],
        "slope_kb_per_1000_wf": None if fit is None else fit[0] * 1000.0 * MB,
        f"rss_mb_at_{target}": points[-1][1] if measured >= target else extrapolated,
        f"rss_mb_at_{target}_is_extrapolated": measured < target,
    }
