"""Plain option and request records of the user API (frozen: they cross the API boundary)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, TypeVar

from ._core import RunRetryPolicy
from .serde import DefaultSerde, Serde

T = TypeVar("T")


def _ms(d: timedelta | None) -> int | None:
    return None if d is None else int(d.total_seconds() * 1000)


@dataclass(frozen=True)
class RunOptions(Generic[T]):
    """Per-step options of ``ctx.run_typed`` (the retry policy is applied by the SDK)."""

    serde: Serde[T] = field(default_factory=DefaultSerde)
    type_hint: type[T] | None = None
    max_attempts: int | None = None
    max_duration: timedelta | None = None
    initial_retry_interval: timedelta | None = None
    max_retry_interval: timedelta | None = None
    retry_interval_factor: float | None = None
    max_retry_duration: timedelta | None = None

    def policy(self) -> RunRetryPolicy:
        return RunRetryPolicy(
            max_attempts=self.max_attempts,
            max_duration_ms=_ms(self.max_duration if self.max_duration is not None else self.max_retry_duration),
            initial_interval_ms=_ms(self.initial_retry_interval),
            max_interval_ms=_ms(self.max_retry_interval),
            factor=self.retry_interval_factor,
        )


@dataclass(frozen=True, slots=True)
class Request:
    """The invocation's request: id, headers and raw body."""

    id: str
    headers: Mapping[str, str]
    body: bytes
    attempt_headers: Mapping[str, str] = field(default_factory=dict)


__all__ = ["Request", "RunOptions"]
