"""Awaitable handles on journal results (restate-style ``RestateDurableFuture``).

A future names a leaf of the journal (a completion id or a signal id) and knows how to decode
its result. Awaiting it asks the session to block on that leaf; combinators block on several
leaves at once. Futures can be awaited any number of times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable.protocol.messages import InvocationIdResult, Result

from ._core.awaits import AwaitTree, Combine, Leaf
from .exceptions import TerminalError, TimeoutError

if TYPE_CHECKING:
    from ._shell import Session

T = TypeVar("T")


class DurableFuture(Generic[T], Awaitable[T]):
    """A result the journal will (or already does) hold."""

    def __init__(self, session: Session, leaf: Leaf, decode: Callable[[Result], T]) -> None:
        self._session = session
        self._leaf = leaf
        self._decode = decode

    @property
    def tree(self) -> AwaitTree:
        return self._leaf

    def is_completed(self) -> bool:
        return self._session.machine.is_resolved(self._leaf)

    def completion_index(self) -> int | None:
        """Journal index of the notification that completed this future (select ordering)."""
        return self._session.machine.resolved_index(self._leaf)

    def _value(self) -> T:
        result = self._session.machine.result_of(self._leaf)
        assert result is not None
        return self._decode(result)

    async def _wait(self) -> T:
        await self._session.block(self._leaf)
        return self._value()

    def __await__(self) -> Generator[Any, Any, T]:
        return self._wait().__await__()

    async def with_timeout(self, timeout: timedelta) -> T:
        """The value, or :class:`TimeoutError` (a 408 terminal error) after a durable timer."""
        timer = self._session.context_sleep(timeout)
        await self._session.block(Combine("first_completed", (self._leaf, timer.tree)))
        if self.is_completed():
            t_idx, s_idx = timer.completion_index(), self.completion_index()
            if not timer.is_completed() or (s_idx is not None and t_idx is not None and s_idx <= t_idx):
                return self._value()
        raise TimeoutError(f"timed out after {timeout}")

    def or_timeout(self, timeout: timedelta) -> Awaitable[T]:
        return self.with_timeout(timeout)


class ReadyFuture(DurableFuture[T]):
    """A value known at creation (eager state reads): never blocks."""

    def __init__(self, session: Session, value: T) -> None:
        super().__init__(session, Leaf("completion", 0), lambda _r: value)
        self._ready = value

    def is_completed(self) -> bool:
        return True

    def completion_index(self) -> int | None:
        return -1

    async def _wait(self) -> T:
        return self._ready

    def _value(self) -> T:
        return self._ready

    async def with_timeout(self, timeout: timedelta) -> T:
        return self._ready


class SleepFuture(DurableFuture[None]):
    pass


def _invocation_id(result: Result) -> str:
    if isinstance(result, InvocationIdResult):
        return result.invocation_id
    raise TerminalError(f"expected an invocation id, got {result!r}")


class SendHandle:
    """A one-way call: its invocation id (once the server assigned it) and cancellation."""

    def __init__(self, session: Session, id_leaf: Leaf) -> None:
        self._session = session
        self._id = DurableFuture(session, id_leaf, _invocation_id)

    async def invocation_id(self) -> str:
        return await self._id

    async def cancel_invocation(self) -> None:
        self._session.context_cancel(await self._id)


class CallFuture(DurableFuture[T]):
    """The result of a request/response call; also exposes the callee's invocation id."""

    def __init__(self, session: Session, id_leaf: Leaf, leaf: Leaf, decode: Callable[[Result], T]) -> None:
        super().__init__(session, leaf, decode)
        self._id = DurableFuture(session, id_leaf, _invocation_id)

    async def invocation_id(self) -> str:
        return await self._id

    async def cancel_invocation(self) -> None:
        self._session.context_cancel(await self._id)


__all__ = ["CallFuture", "DurableFuture", "ReadyFuture", "SendHandle", "SleepFuture"]
