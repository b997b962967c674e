"""What the core asks the shell to do once the current batch is durable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from durable.protocol import StartMessage

from ..store.base import TimerRow

Json = Any


@dataclass(frozen=True, slots=True)
class Invoke:
    """Send one attempt: ``start`` then journal entries ``start.resume_from ..``."""

    start: StartMessage
    deployment_id: str | None
    needs_state: bool


@dataclass(frozen=True, slots=True)
class Retry:
    invocation_id: str
    attempt_count: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    timer: TimerRow


@dataclass(frozen=True, slots=True)
class Finished:
    invocation_id: str
    result: Json


@dataclass(frozen=True, slots=True)
class Evict:
    invocation_id: str


@dataclass(frozen=True, slots=True)
class EvictPromise:
    key: tuple[str, str, str]


Effect = Invoke | Retry | ScheduleTimer | Finished | Evict | EvictPromise


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    service: str
    handler: str
    key: str | None
    parameter: Json  # wire payload object: {"value": ...} | {"value_bytes": ...} | {"void": true}
    headers: dict[str, str]
    idempotency_key: str | None = None
    mode: str = "call"  # "call" | "send"
    execute_at: int | None = None
    caller: tuple[str, int] | None = None  # (invocation id, completion id) to deliver the result


@dataclass(frozen=True, slots=True)
class SubmitResult:
    invocation_id: str | None
    #: "accepted" | "previously_accepted" | "already_invoked" | "not_found"
    status: str
    completed: bool = False
    result: Json = None


@dataclass(frozen=True, slots=True)
class Facts:
    """Committed rows the shell read for the core (what is not in its memory)."""

    invocations: dict[str, bytes]
    promises: dict[tuple[str, str, str], bytes]


NO_FACTS = Facts({}, {})
