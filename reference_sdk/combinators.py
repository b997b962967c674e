"""Waiting on several futures at once (restate's ``select``/``gather``/``as_completed``/...).

All combinators block on one await tree, so a suspension tells the server exactly which
results may unblock the handler. Among futures completed at the same time, the one whose result
sits earliest in the journal wins: live execution and replay pick the same one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._core.awaits import Combine
from .exceptions import TerminalError
from .futures import DurableFuture


def _session_of(futures: Sequence[DurableFuture[Any]]) -> Any:
    sessions = {id(f._session): f._session for f in futures}
    if len(sessions) != 1:
        raise TerminalError("all futures must come from the same handler context")
    return next(iter(sessions.values()))


def _order(f: DurableFuture[Any]) -> int:
    idx = f.completion_index()
    return idx if idx is not None else 1 << 62


async def _block(combinator: str, futures: Sequence[DurableFuture[Any]]) -> None:
    pending = [f for f in futures if not f.is_completed()]
    if not pending:
        return
    session = _session_of(futures)
    await session.block(Combine(combinator, tuple(f.tree for f in pending)))


async def wait_completed(
    *futures: DurableFuture[Any],
) -> tuple[list[DurableFuture[Any]], list[DurableFuture[Any]]]:
    """Block until at least one future completed; (completed in journal order, still pending)."""
    if not futures:
        return [], []
    if not any(f.is_completed() for f in futures):
        await _block("first_completed", futures)
    done = sorted((f for f in futures if f.is_completed()), key=_order)
    return done, [f for f in futures if not f.is_completed()]


async def as_completed(*futures: DurableFuture[Any]) -> AsyncIterator[DurableFuture[Any]]:
    """Yield the futures as they complete (in journal order)."""
    remaining = list(futures)
    while remaining:
        done, remaining = await wait_completed(*remaining)
        for f in done:
            yield f


async def select(**futures: DurableFuture[Any]) -> list[Any]:
    """``[name, value]`` of the first future to complete; made for ``match``.

    A failed future raises its :class:`TerminalError` from ``select``."""
    if not futures:
        raise ValueError("select needs at least one future")
    names = {id(f): k for k, f in futures.items()}
    done, _ = await wait_completed(*futures.values())
    first = done[0]
    return [names[id(first)], await first]


async def gather(*futures: DurableFuture[Any]) -> list[DurableFuture[Any]]:
    """Block until every future completed; returns the futures (await each for its value)."""
    await _block("all_completed", futures)
    return list(futures)


async def first_succeeded(*futures: DurableFuture[Any]) -> Any:
    """The value of the first future to succeed; if all fail, the last failure (JRN-COMB-1)."""
    if not futures:
        raise ValueError("first_succeeded needs at least one future")
    remaining = list(futures)
    last_error: TerminalError | None = None
    while remaining:
        await _block("first_succeeded_or_all_failed", remaining)
        for f in sorted((f for f in remaining if f.is_completed()), key=_order):
            try:
                return await f
            except TerminalError as exc:
                last_error = exc
        remaining = [f for f in remaining if not f.is_completed()]
    assert last_error is not None
    raise last_error


async def all_succeeded(*futures: DurableFuture[Any]) -> list[Any]:
    """All values, or the first failure as soon as one future fails."""
    await _block("all_succeeded_or_first_failed", futures)
    failed = sorted((f for f in futures if f.is_completed()), key=_order)
    for f in failed:
        try:
            await f
        except TerminalError:
            raise
    return [await f for f in futures]


__all__ = ["all_succeeded", "as_completed", "first_succeeded", "gather", "select", "wait_completed"]
