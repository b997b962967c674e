"""Count what one workflow costs our server in round trips: SDK exchanges and store commits.

CPU time says how much; this says how many. It runs our server in-process through its library
API (``reference_server.server.ServerThread``) with the bench services under hypercorn, runs
``n`` SignupWorkflows (or StepsWorkflows) ``concurrency`` at a time, and divides the server's own counters
(``Runtime.exchanges``: HTTP exchanges with the SDK; ``Runtime.attempts``: attempts (turns),
several per exchange in streaming mode; ``SqliteStore.commits``: fsync'd
transactions; ``SqliteStore.batches``: commit requests folded into them; ``SqliteStore.wakeups``:
wake-ups of the event loop by the store's writer and reader threads) by ``n``.
At concurrency > 1 group commit shows: fewer commits than commit requests.
``python -m benchmarks.roundtrips [n] [steps] [concurrency]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from conformance.stack import free_port, register, services_proc, wait_port

__all__ = ["count"]


def count(n: int = 50, steps: int = 0, concurrency: int = 1) -> dict[str, Any]:
    """Per-workflow exchanges and commits for ``n`` workflows, ``concurrency`` at a time
    (``steps`` > 0: StepsWorkflow with that many steps, else SignupWorkflow)."""
    from reference_server.server import ServerThread

    wd = Path(tempfile.mkdtemp(prefix="durable-roundtrips-"))
    port = free_port()
    sdk = services_proc("benchmarks.services.reference_app", port)
    sdk.start(wd)
    try:
        wait_port(port, 60, sdk.popen)
        with ServerThread(data_dir=wd / "data") as srv:
            register(srv.admin_url, f"http://127.0.0.1:{port}")
            runtime: Any = srv.server.runtime
            with httpx.Client(base_url=srv.ingress_url, timeout=60, trust_env=False) as client:
                client.post("/SignupWorkflow/warm/run", json={"name": "w", "email": "w@x"})
                a0, c0, b0 = runtime.attempts, runtime.store.commits, runtime.store.batches
                e0, w0 = runtime.exchanges, runtime.store.wakeups
                asyncio.run(_drive(srv.ingress_url, n, steps, concurrency))
                a1, c1, b1 = runtime.attempts, runtime.store.commits, runtime.store.batches
                e1, w1 = runtime.exchanges, runtime.store.wakeups
    finally:
        sdk.stop()
    return {
        "workflow": f"StepsWorkflow({steps})" if steps else "SignupWorkflow (3 steps)",
        "workflows": n,
        "concurrency": concurrency,
        "sdk_exchanges_per_wf": (e1 - e0) / n,
        "sdk_turns_per_wf": (a1 - a0) / n,
        "commits_per_wf": (c1 - c0) / n,
        "commit_requests_per_wf": (b1 - b0) / n,
        "store_thread_wakeups_per_wf": (w1 - w0) / n,
    }


async def _drive(url: str, n: int, steps: int, concurrency: int) -> None:
    todo = list(range(n))
    async with httpx.AsyncClient(base_url=url, timeout=120, trust_env=False) as client:

        async def worker() -> None:
            while todo:
                i = todo.pop()
                if steps:
                    r = await client.post(f"/StepsWorkflow/rt{i}/run", json=steps)
                else:
                    r = await client.post(f"/SignupWorkflow/rt{i}/run",
                                          json={"name": f"u{i}", "email": "e@x"})
                r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    print(count(*args))
