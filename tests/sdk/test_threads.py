"""The run-closure thread pool: to_thread semantics with one hand-off each way."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from reference_sdk._threads import ClosurePool

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_result_context_and_errors() -> None:
    async def main() -> None:
        pool = ClosurePool(2)
        var.set("caller")
        assert await pool.submit(lambda a, b=0: (a + b, var.get(), threading.current_thread().name), 1, b=2) == (
            3, "caller", "durable-run-1")
        with pytest.raises(ZeroDivisionError):
            await pool.submit(lambda: 1 / 0)
        assert await pool.submit(lambda: "again") == "again"  # the worker survived the error

    asyncio.run(main())


def test_blocking_closures_never_block_the_loop_and_are_bounded() -> None:
    async def main() -> None:
        pool = ClosurePool(2)
        gate = threading.Event()
        running: list[int] = []
        peak = [0]
        lock = threading.Lock()

        def job(i: int) -> int:
            with lock:
                running.append(i)
                peak[0] = max(peak[0], len(running))
            gate.wait(10)
            with lock:
                running.remove(i)
            return i

        futs = [pool.submit(job, i) for i in range(5)]
        for _ in range(200):  # the loop keeps running while the closures block
            await asyncio.sleep(0.005)
            if len(running) == 2:
                break
        assert len(running) == 2 and not any(f.done() for f in futs)
        gate.set()
        assert await asyncio.gather(*futs) == [0, 1, 2, 3, 4]
        assert peak[0] == 2 and pool._workers == 2

    asyncio.run(main())


def test_a_cancelled_wait_does_not_break_the_worker() -> None:
    async def main() -> None:
        pool = ClosurePool(1)
        gate = threading.Event()
        fut = pool.submit(gate.wait, 10)
        fut.cancel()
        gate.set()
        assert await pool.submit(lambda: "next") == "next"

    asyncio.run(main())
