"""Where one workflow's latency goes: a per-hop breakdown of our stack's critical path.

``python -m benchmarks.critical_path [-n 300] [--json FILE]`` starts the reference server and
the bench services (hypercorn, uvloop worker) with :mod:`benchmarks.tracepoints` installed,
runs SignupWorkflows one at a time, and lines up the marks of both processes for each
workflow (``ingress request ... reply``). For the most common sequence of marks it reports the
median of every hop and sums the hops by kind (store commits, server CPU, SDK CPU, the run
closures' thread hops, the transfers between the processes), so "what stands in the way" of a
latency target is a measurement, not a guess. One workflow at a time: with several in flight
the marks of different workflows interleave and no hop has a single owner.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.load import make_client, run_batch, signup_request
from benchmarks.procstat import descendants
from benchmarks.scenarios import Keys
from conformance.stack import Proc, free_port, register, services_proc, wait_http, wait_port

__all__ = ["KINDS", "analyse", "main"]

#: (from, to) -> the kind of work between the two marks
KINDS: dict[tuple[str, str], str] = {
    ("S:ING>", "S:COMMIT>"): "server CPU",
    ("S:TURN<", "S:COMMIT>"): "server CPU",
    ("S:COMMIT<", "S:TURN>"): "server CPU",
    ("S:COMMIT<", "S:ING<"): "server CPU",
    ("S:RX", "S:TURN<"): "server CPU",
    ("S:COMMIT>", "S:COMMIT<"): "store commit (fsync)",
    ("S:TURN>", "K:RX"): "transfer server -> SDK",
    ("K:TURN<", "S:RX"): "transfer SDK -> server",
    ("K:RX", "K:TURN>"): "SDK CPU",
    ("K:TURN>", "K:RUN>"): "SDK CPU",
    ("K:RUN<", "K:TURN<"): "SDK CPU",
    ("K:TURN>", "K:TURN<"): "SDK CPU",
    ("K:RUN>", "K:RUN<"): "run closure thread hop",
}


def _load(directory: Path, t0: int, t1: int) -> list[tuple[int, str]]:
    marks: list[tuple[int, str]] = []
    for path in directory.glob("marks-*.txt"):
        for line in path.read_text().splitlines():
            t, _, label = line.partition(" ")
            if t0 <= int(t) <= t1:
                marks.append((int(t), label))
    marks.sort()
    return marks


def _segments(marks: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """One list of marks per workflow, from its ingress request to the reply. Repeated marks (an
    answer that arrived in several reads) keep their first occurrence; bytes that arrive while a
    commit is in flight (the end of the request and response bodies after the last turn) are
    part of that commit's hop."""
    out: list[list[tuple[int, str]]] = []
    cur: list[tuple[int, str]] | None = None
    for t, label in marks:
        if label == "S:ING>":
            cur = [(t, label)]
        elif cur is not None:
            if label.endswith(":RX") and cur[-1][1] == "S:COMMIT>":
                continue
            if label != cur[-1][1]:
                cur.append((t, label))
            if label == "S:ING<":
                out.append(cur)
                cur = None
    return out


def analyse(marks: list[tuple[int, str]]) -> dict[str, Any]:
    """Median per hop of the most common mark sequence, and the hops summed by kind."""
    segments = _segments(marks)
    if not segments:
        raise ValueError("no complete workflow among the marks")
    sequences = Counter(tuple(label for _, label in s) for s in segments)
    seq, count = sequences.most_common(1)[0]
    same = [s for s in segments if tuple(label for _, label in s) == seq]
    hops: list[dict[str, Any]] = []
    by_kind: dict[str, float] = {}
    for i in range(len(seq) - 1):
        us = statistics.median((s[i + 1][0] - s[i][0]) / 1000 for s in same)
        kind = KINDS.get((seq[i], seq[i + 1]), "other")
        hops.append({"from": seq[i], "to": seq[i + 1], "median_us": round(us, 1), "kind": kind})
        by_kind[kind] = by_kind.get(kind, 0.0) + us
    total = statistics.median((s[-1][0] - s[0][0]) / 1000 for s in same)
    summed = sum(by_kind.values())
    ranked = sorted(by_kind.items(), key=lambda kv: -kv[1])
    return {
        "workflows": len(segments),
        "with_the_common_sequence": count,
        "median_latency_us": round(total, 1),
        "hops": hops,
        "by_kind_us": {k: round(v, 1) for k, v in ranked},
        "by_kind_share": {k: round(v / summed, 3) for k, v in ranked} if summed else {},
        "commits_per_workflow": seq.count("S:COMMIT>"),
        "turns_per_workflow": seq.count("S:TURN>"),
    }


def _is_worker(pid: int) -> bool:
    """A hypercorn worker (started by multiprocessing's spawn), not its supervisor or resource tracker."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def _measure(n: int, workdir: Path, client_latencies: list[float] | None = None) -> list[tuple[int, str]]:
    trace_dir = workdir / "marks"
    env = {"DURABLE_TRACE_DIR": str(trace_dir)}
    ingress, admin, port = free_port(), free_port(), free_port()
    server = Proc("traced-server", [sys.executable, "-m", "benchmarks.tracepoints", "server", "--data-dir",
                                    str(workdir / "data"), "--ingress-port", str(ingress), "--admin-port",
                                    str(admin), "--log-level", "warning"], env=env)
    sdk = services_proc("benchmarks.services.traced_app", port, "uvloop")
    sdk.env.update(env)
    try:
        sdk.start(workdir)
        server.start(workdir)
        assert sdk.popen is not None and server.popen is not None
        wait_port(port, 60, sdk.popen)
        wait_http(f"http://127.0.0.1:{admin}/health", 60, server.popen)
        register(f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{port}")
        keys = Keys(f"cp{int(time.time())}")
        async with make_client(f"http://127.0.0.1:{ingress}") as client:
            await run_batch(client, keys.take(50), signup_request, 1, 60.0)
            t0 = time.monotonic_ns()
            batch = await run_batch(client, keys.take(n), signup_request, 1, 300.0)
            t1 = time.monotonic_ns()
        if client_latencies is not None:
            client_latencies.extend(batch.latencies_s)
        if batch.errors:
            raise RuntimeError(f"{batch.errors} workflows failed: {batch.error_samples[:1]}")
        # only the processes that installed the SIGUSR1 handler: the traced server and the SDK's
        # worker(s), not hypercorn's supervisor (SIGUSR1 would end it and orphan its worker)
        for pid in [server.popen.pid, *filter(_is_worker, descendants(sdk.popen.pid))]:
            os.kill(pid, signal.SIGUSR1)
        for _ in range(50):  # the dumps are written by the processes' signal handlers
            await asyncio.sleep(0.1)
            if len(list(trace_dir.glob("marks-*.txt"))) >= 2:
                break
        await asyncio.sleep(0.3)
        return _load(trace_dir, t0, t1)
    finally:
        sdk.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.critical_path", description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=300, help="measured workflows (one at a time)")
    ap.add_argument("--json", type=Path, help="write the breakdown here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="durable-critical-path-") as tmp:
        client: list[float] = []
        result = analyse(asyncio.run(_measure(args.n, Path(tmp), client)))
    result["client_p50_us"] = statistics.median(client) * 1e6
    result["outside_ingress_handler_us"] = result["client_p50_us"] - result["median_latency_us"]
    for hop in result["hops"]:
        print(f"{hop['from']:>10} -> {hop['to']:<10} {hop['median_us']:8.1f} us  {hop['kind']}")
    print(f"median workflow latency {result['median_latency_us'] / 1000:.2f} ms "
          f"({result['with_the_common_sequence']}/{result['workflows']} workflows with the common sequence)")
    for kind, us in result["by_kind_us"].items():
        print(f"  {kind:<28} {us / 1000:6.2f} ms  {result['by_kind_share'][kind]:6.1%}")
    print(f"client p50 {result['client_p50_us'] / 1000:.2f} ms: "
          f"{result['outside_ingress_handler_us'] / 1000:.2f} ms outside the ingress handler "
          "(client, HTTP parse and response write, transfers client <-> server)")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
