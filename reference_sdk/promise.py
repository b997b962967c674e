"""Durable promises: workflow-scoped values completed once and awaited by any of its handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable.protocol.messages import Failure, RawValue, Result, Value

from ._core.awaits import Leaf
from .exceptions import TerminalError
from .futures import DurableFuture
from .serde import DefaultSerde, Serde, from_payload, to_payload

if TYPE_CHECKING:
    from ._shell import Session

T = TypeVar("T")


def _failure_or_none(r: Result) -> None:
    if isinstance(r, Failure):
        raise TerminalError(r.message, r.code, r.metadata)


class DurablePromise(Generic[T]):
    """A workflow-scoped promise: resolved once, awaited by any handler of the workflow."""

    def __init__(self, session: Session, name: str, serde: Serde[T] | None, type_hint: type[T] | None) -> None:
        self._session = session
        self.name = name
        self._serde = serde
        self._hint = type_hint

    def value(self) -> DurableFuture[T]:
        s = self._session
        leaf = s.guard(lambda: s.machine.get_promise(self.name))
        return DurableFuture(s, leaf, lambda r: from_payload(r, self._hint, self._serde))

    def resolve(self, value: T) -> DurableFuture[None]:
        payload = to_payload(value, self._hint, self._serde)
        result: Value | RawValue = payload if isinstance(payload, Value | RawValue) else Value(None)
        return self._complete(result)

    def reject(self, message: str, code: int = 500) -> DurableFuture[None]:
        return self._complete(Failure(code, message))

    def _complete(self, result: Value | RawValue | Failure) -> DurableFuture[None]:
        s = self._session
        leaf: Leaf = s.guard(lambda: s.machine.complete_promise(self.name, result))
        return DurableFuture(s, leaf, _failure_or_none)

    def peek(self) -> DurableFuture[T | None]:
        s = self._session
        leaf = s.guard(lambda: s.machine.peek_promise(self.name))
        return DurableFuture(s, leaf, lambda r: from_payload(r, self._hint, self._serde))

    def __await__(self) -> Any:
        return self.value().__await__()


def make_promise(session: Session, name: str, serde: Serde[T], type_hint: type[T] | None) -> DurablePromise[T]:
    custom = None if isinstance(serde, DefaultSerde) and serde.type_hint is None else serde
    return DurablePromise(session, name, custom, type_hint)


__all__ = ["DurablePromise"]
