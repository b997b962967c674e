"""Records the core reasons about: invocations, services, retry policies.

``Inv`` is the in-memory image of one invocation's row. Only invocations that are not
completed live in memory (plus completed ones until their batch is committed), so memory
scales with the work in flight, not with history. The row is written whole on every change:
simpler than column updates, and one row per step is cheap next to the journal entry itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import orjson

Json = Any

STATUS_SCHEDULED = "scheduled"
STATUS_INBOXED = "pending"
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

    def merged(self, *layers: dict[str, Json] | None) -> RetryPolicy:
        """Field by field: the first layer that sets a field wins, else this policy's value."""
        values: dict[str, Json] = {}
        for layer in reversed([x for x in layers if x]):
            values.update(layer)
        return replace(self, **values) if values else self

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
    output_schema: Json = None
    output_content_type_if_empty: bool = False
    #: how long the result (and idempotency / workflow key) is kept after completion
    retention_ms: int | None = None
    #: retry policy fields this handler sets (RetryPolicy field names)
    retry: dict[str, Json] | None = None
    abort_timeout_ms: int | None = None
    documentation: str | None = None
    #: not callable from the ingress, only from other handlers
    private: bool = False


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    ty: str  # "service" | "object" | "workflow"
    deployment_id: str
    handlers: dict[str, HandlerInfo]
    retry: dict[str, Json] | None = None
    manifest: Json = None
    revision: int = 1


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
    #: the deployment of its first attempt (a newer deployment serves only new invocations)
    deployment_id: str | None = None
    attempt_resume_from: int = 0
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
    #: every completion id used by a command so far, and the runs still without a result
    cids: list[int] = field(default_factory=list)
    open_runs: list[int] = field(default_factory=list)
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
        return orjson.dumps({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_data(cls, data: bytes | str) -> Inv:
        return cls(**orjson.loads(data))

    def summary(self) -> dict[str, Json]:
        """The admin API's view (spec/schemas/admin/invocation-list.json)."""
        out: dict[str, Json] = {
            "id": self.id,
            "target": "/".join(p for p in (self.service, self.key, self.handler) if p is not None),
            "service": self.service,
            "handler": self.handler,
            "service_ty": _SERVICE_TY.get(self.svc_ty, "Service"),
            "status": self.status,
            "created_at": rfc3339(self.created_at),
            "modified_at": rfc3339(self.modified_at),
            "retry_count": self.retry_count,
            "journal_length": self.journal_length,
        }
        if self.key is not None:
            out["key"] = self.key
        if self.idempotency_key is not None:
            out["idempotency_key"] = self.idempotency_key
        if self.caller is not None:
            out["invoked_by"] = self.caller
        if self.execute_at is not None:
            out["scheduled_at"] = rfc3339(self.execute_at)
        if self.completed_at is not None:
            out["completed_at"] = rfc3339(self.completed_at)
        if self.last_failure:
            out["last_failure"] = {
                k: v
                for k, v in self.last_failure.items()
                if k in ("code", "message", "related_command_index", "related_command_type",
                         "related_command_name") and v is not None
            }
        if self.result is not None:
            out["output"] = self.result
            failure = self.result.get("failure")
            if failure is None:
                out["outcome"] = "success"
            elif failure.get("message") == "killed" and failure.get("code") == 409:
                out["outcome"] = "killed"
            elif failure.get("message") == "cancelled" and failure.get("code") == 409:
                out["outcome"] = "cancelled"
            else:
                out["outcome"] = "failure"
        return out


_FIELDS = tuple(f.name for f in fields(Inv))
_SERVICE_TY = {"service": "Service", "object": "VirtualObject", "workflow": "Workflow"}


def rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
