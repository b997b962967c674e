"""Records the core reasons about: invocations, services, retry policies.

``Inv`` is the in-memory image of one invocation's row. Only invocations that are not
completed live in memory (plus completed ones until their batch is committed), so memory
scales with the work in flight, not with history. The row is written whole on every change:
simpler than column updates, and one row per step is cheap next to the journal entry itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

Json = Any

STATUS_SCHEDULED = "scheduled"
STATUS_INBOXED = "inboxed"
STATUS_RUNNING = "running"
STATUS_SUSPENDED = "suspended"
STATUS_BACKING_OFF = "backing-off"
STATUS_COMPLETED = "completed"
STATUSES = (
    STATUS_SCHEDULED,
    STATUS_INBOXED,
    STATUS_RUNNING,
    STATUS_SUSPENDED,
    STATUS_BACKING_OFF,
    STATUS_COMPLETED,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial_interval_ms: int = 100
    factor: float = 2.0
    max_interval_ms: int = 10_000
    max_attempts: int | None = None

    def delay_ms(self, retry_count: int) -> int:
        delay = self.initial_interval_ms * self.factor ** max(0, retry_count - 1)
        return int(min(delay, self.max_interval_ms))


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    name: str
    ty: str  # "exclusive" | "shared" | "workflow"
    input_schema: Json = None
    input_content_type: str | None = None
    input_required: bool = False
    output_content_type: str | None = None
    retry: RetryPolicy | None = None


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    ty: str  # "service" | "object" | "workflow"
    deployment_id: str
    handlers: dict[str, HandlerInfo]
    retry: RetryPolicy | None = None
    manifest: Json = None


@dataclass(slots=True)
class Inv:
    id: str
    service: str
    handler: str
    key: str | None
    svc_ty: str
    handler_ty: str
    status: str
    seq: int
    created_at: int
    modified_at: int
    idempotency_key: str | None = None
    execute_at: int | None = None
    journal_length: int = 0
    #: how many entries the SDK knew when the last attempt suspended (warm resume)
    sdk_length: int = 0
    suspended_attempt: str | None = None
    awaiting: Json = None
    attempt: str | None = None
    attempt_count: int = 0
    retry_count: int = 0
    last_progress_at: int = 0
    last_failure: Json = None
    #: notifications that arrived while an attempt was in flight (appended when it ends)
    pending: list[Json] = field(default_factory=list)
    #: (invocation id, completion id) to notify with the result
    waiters: list[list[Json]] = field(default_factory=list)
    #: completion id -> promise name, for get_promise waits on this workflow key
    promise_waits: dict[str, str] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    caller: str | None = None
    output: Json = None
    result: Json = None
    completed_at: int | None = None
    expires_at: int | None = None
    cancel_requested: bool = False

    @property
    def completed(self) -> bool:
        return self.status == STATUS_COMPLETED

    @property
    def exclusive(self) -> bool:
        return self.svc_ty in ("object", "workflow") and self.handler_ty in ("exclusive", "workflow")

    @property
    def lock_key(self) -> tuple[str, str]:
        return (self.service, self.key or "")

    def to_data(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_data(cls, data: bytes | str) -> Inv:
        return cls(**orjson.loads(data))

    def summary(self) -> dict[str, Json]:
        return {
            "id": self.id,
            "target": f"{self.service}/{self.key}/{self.handler}"
            if self.key is not None
            else f"{self.service}/{self.handler}",
            "service": self.service,
            "handler": self.handler,
            "key": self.key,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
            "completed_at": self.completed_at,
            "scheduled_at": self.execute_at,
            "journal_length": self.journal_length,
            "retry_count": self.retry_count,
            "attempt_count": self.attempt_count,
            "last_failure": self.last_failure,
            "invoked_by": self.caller,
            "result": self.result,
        }
