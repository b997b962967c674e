"""The storage interface: batches of write operations plus a few reads.

Every state change the core decides on is expressed as a list of ``Op`` values. The shell
hands a batch to :meth:`Store.commit`, which returns only once the batch is durable; the
shell acts on the core's effects (answer a client, call an SDK) only after that. Reads
return committed data only; the core's in-memory image covers what is not committed yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Json = Any


@dataclass(frozen=True, slots=True)
class PutInvocation:
    id: str
    service: str
    handler: str
    key: str | None
    status: str
    idempotency_key: str | None
    created_at: int
    modified_at: int
    expires_at: int | None
    data: bytes


@dataclass(frozen=True, slots=True)
class DeleteInvocation:
    id: str


@dataclass(frozen=True, slots=True)
class AppendJournal:
    invocation_id: str
    index: int
    entry: bytes


@dataclass(frozen=True, slots=True)
class SetState:
    service: str
    key: str
    name: str
    value: bytes


@dataclass(frozen=True, slots=True)
class ClearState:
    service: str
    key: str
    name: str | None  # None: every name


@dataclass(frozen=True, slots=True)
class PutPromise:
    service: str
    key: str
    name: str
    result: bytes


@dataclass(frozen=True, slots=True)
class DeletePromises:
    service: str
    key: str


@dataclass(frozen=True, slots=True)
class PutTimer:
    id: str
    due_ms: int
    invocation_id: str
    kind: str
    completion_id: int


@dataclass(frozen=True, slots=True)
class DeleteTimer:
    id: str


@dataclass(frozen=True, slots=True)
class DeleteTimersOf:
    """Every timer of a finished invocation (a months-long sleep need not outlive it)."""

    invocation_id: str


@dataclass(frozen=True, slots=True)
class PutDeployment:
    id: str
    uri: str
    manifest: bytes
    created_at: int


Op = (
    PutInvocation
    | DeleteInvocation
    | AppendJournal
    | SetState
    | ClearState
    | PutPromise
    | DeletePromises
    | PutTimer
    | DeleteTimer
    | DeleteTimersOf
    | PutDeployment
)


@dataclass(frozen=True, slots=True)
class TimerRow:
    id: str
    due_ms: int
    invocation_id: str
    kind: str
    completion_id: int


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def commit(self, ops: list[Op]) -> asyncio.Future[None]:
        """Queue a batch; the future resolves once it (and every earlier batch) is durable."""
        ...

    def expect_more(self, more: Callable[[], bool]) -> None:
        """A hint for group commit: ``more()`` is true while further batches are about to be
        queued (the shell is waiting for SDK answers), so a store may hold a small group
        briefly to fold them into the same durable write. Never a reason to acknowledge early."""
        ...

    async def load_active(self) -> list[bytes]: ...

    async def load_timers(self) -> list[TimerRow]: ...

    async def load_deployments(self) -> list[tuple[str, str, bytes, int]]: ...

    async def get_invocations(self, ids: list[str]) -> dict[str, bytes]: ...

    async def read_journal(self, invocation_id: str, start: int, end: int) -> list[bytes]: ...

    async def read_state(self, service: str, key: str) -> dict[str, bytes]: ...

    async def get_promises(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], bytes]: ...

    async def list_invocations(
        self, status: str | None, service: str | None, key: str | None, limit: int
    ) -> list[bytes]: ...

    async def expired(self, now_ms: int, limit: int) -> list[tuple[str, str, str, str | None]]:
        """(id, service, handler, key) of completed invocations past their retention."""
        ...
