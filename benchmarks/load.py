"""The load generator: an asyncio httpx client with bounded request counts and time limits.

``concurrency`` workers share one list of distinct workflow keys; each takes the next key,
sends one request and records its latency (send to full response). A worker stops when the
keys run out or the batch's deadline has passed (requests already in flight finish, each
bounded by the client timeout), so a slow stack makes a batch shorter, never the run endless.
Throughput is successful workflows over the batch's wall time (first send to last response).
The client talks HTTP/1.1 with keep-alive to 127.0.0.1 only (``trust_env=False``: no proxy).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Batch", "Request", "make_client", "run_batch", "signup_request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of a batch and the body that counts as success."""

    method: str
    path: str
    json: Any = None
    expect: Any = None


@dataclass
class Batch:
    """What one batch measured."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    stopped_by_deadline: bool = False


def make_client(base_url: str, max_connections: int = 64, timeout_s: float = 120.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s, trust_env=False)


def signup_request(key: str) -> Request:
    """The seed's SignupWorkflow ``run`` for workflow key ``key`` (it answers ``true``)."""
    return Request("POST", f"/SignupWorkflow/{key}/run",
                   {"name": key, "email": f"{key}@example.com"}, True)


async def one(client: httpx.AsyncClient, req: Request) -> tuple[float, str | None]:
    """Send ``req``; return (latency seconds, error text or None)."""
    t0 = time.perf_counter()
    try:
        r = await client.request(req.method, req.path, json=req.json)
    except httpx.HTTPError as exc:
        return time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
    dt = time.perf_counter() - t0
    if r.status_code >= 300:
        return dt, f"{r.status_code} {r.text[:200]}"
    if req.expect is not None and r.json() != req.expect:
        return dt, f"unexpected body {r.text[:200]}"
    return dt, None


async def run_batch(client: httpx.AsyncClient, keys: list[str], make: Callable[[str], Request],
                    concurrency: int, time_limit_s: float) -> Batch:
    """Send ``make(key)`` for each key with ``concurrency`` workers until done or out of time."""
    batch = Batch()
    todo = list(reversed(keys))
    start = time.perf_counter()
    deadline = start + time_limit_s
    last = start

    async def worker() -> None:
        nonlocal last
        while todo:
            if time.perf_counter() >= deadline:
                batch.stopped_by_deadline = True
                return
            latency, error = await one(client, make(todo.pop()))
            last = max(last, time.perf_counter())
            if error is None:
                batch.latencies_s.append(latency)
            else:
                batch.errors += 1
                if len(batch.error_samples) < 5:
                    batch.error_samples.append(error)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    batch.wall_s = last - start
    return batch
