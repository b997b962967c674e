"""CPU per workflow of the SDK alone, without the server: a scripted server drives the SDK app.

Two drivers, both playing the reference server's part for SignupWorkflow (one request per
``ctx.run``, warm resumes, the run proposal answered with its completion):

- ``inproc``: calls the app's ASGI entry point in this process, one workflow at a time, and
  charges to the SDK only the process CPU time (``time.process_time``: every thread, so the
  run closures' worker threads too) spent inside the SDK's ASGI calls. The driver's own work
  (building requests, decoding answers) is outside the measured windows. ``--profile FILE``
  writes a cProfile of the same windows (the event loop's thread only; the profiler's own
  overhead inflates the CPU figure of a profiled run).
- ``http``: starts the bench services under hypercorn (``--workers 1``) and posts the same
  requests from this process over loopback HTTP/1.1 with ``concurrency`` workers; the SDK's CPU
  is read from /proc for its process tree (supervisor + worker), before and after.

``python -m benchmarks.sdk_cpu inproc -n 2000`` / ``python -m benchmarks.sdk_cpu http -n 3000``.
Both print milliseconds of SDK CPU per workflow. CPU time, not wall time, so the numbers hold
on a shared machine; no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from durable.protocol.framing import decode_frames, encode_frames
from durable.protocol.messages import (
    Command,
    CompletionNotification,
    EndMessage,
    Entry,
    InputCommand,
    ProposeRunCompletionMessage,
    StartMessage,
    SuspensionMessage,
    Value,
    invocation_content_type,
)

__all__ = ["Turn", "drive_workflow", "main"]

CT = invocation_content_type()
PATH = "/invoke/SignupWorkflow/run"

Turn = Callable[[bytes], Awaitable[bytes]]


async def drive_workflow(key: str, post: Turn) -> int:
    """Run one SignupWorkflow through ``post`` (request body -> response body); returns turns."""
    journal: list[Entry] = [InputCommand(0, parameter=Value({"name": key, "email": f"{key}@example.com"}))]
    known = 0
    last_attempt: str | None = None
    turns = 0
    while True:
        turns += 1
        attempt = f"att{turns}"
        start = StartMessage(
            invocation_id=f"inv_{key}", service="SignupWorkflow", handler="run", key=key,
            attempt_id=attempt, journal_length=len(journal), resume_from=known,
            resume_attempt_id=last_attempt if known else None,
            state={} if known == 0 else None, random_seed=7,
        )
        out = decode_frames(await post(encode_frames([start, *journal[known:]])))
        term = out[-1]
        for m in out[:-1]:
            if isinstance(m, Command):
                assert m.index == len(journal), (m, len(journal))
                journal.append(m)
        proposals = [m for m in out[:-1] if isinstance(m, ProposeRunCompletionMessage)]
        if isinstance(term, EndMessage):
            return turns
        if not isinstance(term, SuspensionMessage) or not proposals:
            raise RuntimeError(f"unexpected answer {out!r}")
        known = len(journal)
        for p in proposals:
            journal.append(CompletionNotification(len(journal), completion_id=p.completion_id, result=p.result))
        last_attempt = attempt
        if turns > 20:
            raise RuntimeError("too many turns")


def _asgi_post(app: Any, spent: list[float], prof: cProfile.Profile | None = None) -> Turn:
    headers = [(b"content-type", CT.encode()), (b"accept", CT.encode())]

    async def post(body: bytes) -> bytes:
        scope = {"type": "http", "method": "POST", "path": PATH, "headers": headers}
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        if prof is not None:
            prof.enable()
        t0 = time.process_time()
        await app(scope, receive, send)
        spent[0] += time.process_time() - t0
        if prof is not None:
            prof.disable()
        assert sent[0]["status"] == 200, sent
        return bytes(sent[1]["body"])

    return post


async def _inproc(n: int, warmup: int, profile: Path | None) -> dict[str, float]:
    from benchmarks.services.reference_app import app

    spent = [0.0]
    for i in range(warmup):
        await drive_workflow(f"warm{i}", _asgi_post(app, spent))
    spent[0] = 0.0
    prof = cProfile.Profile() if profile is not None else None
    post = _asgi_post(app, spent, prof)
    turns = 0
    for i in range(n):
        turns += await drive_workflow(f"user{i}", post)
    if prof is not None:
        prof.dump_stats(str(profile))
    return {"workflows": n, "turns": turns, "sdk_cpu_ms_per_wf": spent[0] / n * 1000.0}


async def _http(n: int, warmup: int, concurrency: int) -> dict[str, float]:
    import httpx

    from benchmarks.procstat import sample_tree
    from conformance.stack import free_port, services_proc, wait_port

    port = free_port()
    proc = services_proc("benchmarks.services.reference_app", port)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"sdk_cpu_{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    proc.start(workdir)
    try:
        wait_port(port, 60, proc.popen)
        assert proc.popen is not None
        pid = proc.popen.pid
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60,
                                     trust_env=False) as client:

            async def post(body: bytes) -> bytes:
                r = await client.post(PATH, content=body, headers={"content-type": CT, "accept": CT})
                r.raise_for_status()
                return r.content

            async def batch(prefix: str, count: int) -> int:
                keys = [f"{prefix}{i}" for i in range(count)]
                turns = 0

                async def worker() -> None:
                    nonlocal turns
                    while keys:
                        t = await drive_workflow(keys.pop(), post)
                        turns += t

                await asyncio.gather(*(worker() for _ in range(concurrency)))
                return turns

            await batch("warm", warmup)
            before = sample_tree(pid)
            t0 = time.perf_counter()
            turns = await batch("user", n)
            wall = time.perf_counter() - t0
            after = sample_tree(pid)
    finally:
        proc.stop()
    return {"workflows": n, "turns": turns, "wall_s": wall,
            "sdk_cpu_ms_per_wf": (after.cpu_s - before.cpu_s) / n * 1000.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sdk_cpu", description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["inproc", "http"])
    ap.add_argument("-n", type=int, default=2000, help="measured workflows")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("-c", "--concurrency", type=int, default=16, help="http mode: concurrent workflows")
    ap.add_argument("--profile", type=Path, help="inproc mode: write a cProfile of the measured part here")
    args = ap.parse_args(argv)
    if args.mode == "inproc":
        res = asyncio.run(_inproc(args.n, args.warmup, args.profile))
    else:
        res = asyncio.run(_http(args.n, args.warmup, args.concurrency))
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
