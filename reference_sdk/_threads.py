"""Run sync ``ctx.run`` closures off the event loop, with one hand-off each way.

A sync closure may block (a database driver, ``requests``), so it never runs on the loop.
``asyncio.to_thread`` goes through ``concurrent.futures``: a work item, a second future with its
own lock and callbacks, then ``wrap_future`` chaining it back with ``call_soon_threadsafe``.
This pool hands the closure to an idle worker through a queue and the worker resolves the
asyncio future with one ``call_soon_threadsafe``: on a 2-core machine 42 instead of 75 us per
closure on uvloop, 67 instead of 110 on asyncio's loop (``docs/benchmarks.md``). Same
semantics as ``to_thread``: the closure runs with a copy of the caller's context variables, at
most ``max_workers`` closures run at once (the default executor's bound, ``min(32, cpus + 4)``)
and the others wait their turn in order; workers are daemon threads, started when needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["ClosurePool", "run_sync"]

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ClosurePool:
    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._workers = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Run ``fn(*args, **kwargs)`` on a worker; the future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._workers < self.max_workers:
                    self._workers += 1
                    threading.Thread(target=self._work, name=f"durable-run-{self._workers}", daemon=True).start()
        self._jobs.put((loop, fut, contextvars.copy_context(), fn, args, kwargs))
        return fut

    def _work(self) -> None:
        while True:
            loop, fut, ctx, fn, args, kwargs = self._jobs.get()
            try:
                value, error = ctx.run(fn, *args, **kwargs), None
            except BaseException as exc:  # handed to the awaiting task, like to_thread
                value, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve, fut, value, error)
            del loop, fut, ctx, fn, args, kwargs, value, error
            self._idle.release()


def _resolve(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if fut.done():  # cancelled meanwhile (the session was closed)
        return
    if error is None:
        fut.set_result(value)
    else:
        fut.set_exception(error)


_POOL = ClosurePool()


def run_sync(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
    """``asyncio.to_thread`` for run closures, on the SDK's shared pool."""
    return _POOL.submit(fn, *args, **kwargs)
