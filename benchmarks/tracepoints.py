"""Timestamps along a workflow's path through our server and SDK, for ``benchmarks.critical_path``.

:func:`install_server` and :func:`install_sdk` wrap a few functions of the reference server and
SDK so that each call records ``(time.monotonic_ns(), label)``. ``CLOCK_MONOTONIC`` is one clock
for the whole machine, so the marks of the two processes interleave correctly. Nothing of this
is imported by the server or the SDK themselves: only the bench's own entry points
(``python -m benchmarks.tracepoints server ...`` and ``benchmarks.services.traced_app:app``)
install it.
SIGUSR1 writes the marks so far to ``$DURABLE_TRACE_DIR/marks-<pid>.txt``.

Labels, server side (``S:``): ``ING>``/``ING<`` an ingress request, ``COMMIT>`` a batch queued,
``COMMIT<`` the batch durable (its future resolved), ``TURN>``/``TURN<`` a turn written to the
SDK / its answer decoded, ``RX`` bytes from the SDK arrived. SDK side (``K:``): ``RX`` bytes from
the server arrived, ``TURN>``/``TURN<`` a turn's messages decoded / its answer ready,
``RUN>``/``RUN<`` a sync run closure handed to a worker thread / its result back on the loop.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["install_sdk", "install_server", "marks"]

marks: list[tuple[int, str]] = []


def _mark(label: str) -> None:
    marks.append((time.monotonic_ns(), label))


def _dump(*_: object) -> None:
    directory = Path(os.environ.get("DURABLE_TRACE_DIR", "."))
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{t} {label}\n" for t, label in list(marks))
    (directory / f"marks-{os.getpid()}.txt").write_text(text)


def _around(owner: Any, name: str, label: str) -> None:
    """Mark ``label>`` when the coroutine function ``owner.name`` starts, ``label<`` when it ends."""
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        _mark(label + ">")
        try:
            return await original(*args, **kwargs)
        finally:
            _mark(label + "<")

    setattr(owner, name, wrapped)


def _before(owner: Any, name: str, label: str) -> None:
    """Mark ``label`` whenever the plain function ``owner.name`` is called."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _mark(label)
        return original(*args, **kwargs)

    setattr(owner, name, wrapped)


def install_server() -> None:
    from reference_server import invoker
    from reference_server.http import ingress
    from reference_server.store import sqlite

    _around(ingress.Ingress, "__call__", "S:ING")
    _around(invoker.Exchange, "turn", "S:TURN")
    _before(invoker._Conn, "data_received", "S:RX")
    original: Callable[..., Any] = sqlite.SqliteStore.commit

    def commit(self: Any, ops: list[Any]) -> Any:
        fut = original(self, ops)
        if ops:
            _mark("S:COMMIT>")
            fut.add_done_callback(lambda _f: _mark("S:COMMIT<"))
        return fut

    sqlite.SqliteStore.commit = commit  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, _dump)


def install_sdk() -> None:
    import asyncio.streams

    from reference_sdk import _shell, endpoint

    _around(endpoint.App, "_turn", "K:TURN")
    _before(asyncio.streams.StreamReader, "feed_data", "K:RX")
    submit: Callable[..., Any] = getattr(_shell, "run_sync")  # noqa: B009 - not re-exported

    def run_sync(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        _mark("K:RUN>")
        fut = submit(fn, *args, **kwargs)
        fut.add_done_callback(lambda _f: _mark("K:RUN<"))
        return fut

    setattr(_shell, "run_sync", run_sync)  # noqa: B010
    signal.signal(signal.SIGUSR1, _dump)


if __name__ == "__main__":  # python -m benchmarks.tracepoints server <durable server options>
    install_server()
    from durable.cli import app as cli

    cli(sys.argv[1:])
