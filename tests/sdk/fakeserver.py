"""A tiny in-process stand-in for the server, driving an SDK app over ASGI (httpx.ASGITransport).

It stores the journal, appends the SDK's commands and run proposals, answers suspensions with
scripted notifications, and retries failed attempts (bounded). Enough to test the SDK end to end
without the real server; it is *not* the reference server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from durable.protocol.framing import decode_frames, encode_frames
from durable.protocol.messages import (
    VOID,
    CallCommand,
    Command,
    CompletionNotification,
    EndMessage,
    Entry,
    ErrorMessage,
    InputCommand,
    InvocationIdResult,
    Message,
    OutputCommand,
    Payload,
    ProposeRunCompletionMessage,
    Result,
    ResumeMissMessage,
    SendCommand,
    SleepCommand,
    StartMessage,
    SuspensionMessage,
    Value,
    invocation_content_type,
)
from durable.protocol.schemas import validate_frames

Responder = Callable[["Invocation", SuspensionMessage], list[Entry] | None]


@dataclass
class Invocation:
    invocation_id: str
    service: str
    handler: str
    key: str | None
    journal: list[Entry]
    state: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    retry_count: int = 0
    last_attempt: str | None = None
    known_by_sdk: int = 0
    errors: list[ErrorMessage] = field(default_factory=list)
    responses: list[list[Message]] = field(default_factory=list)
    requests: list[list[Message]] = field(default_factory=list)

    def commands(self) -> list[Command]:
        return [e for e in self.journal if isinstance(e, Command)]

    def notify(self, completion_id: int, result: Result) -> CompletionNotification:
        return CompletionNotification(len(self.journal), completion_id=completion_id, result=result)


def complete_timers_and_ids(inv: Invocation, susp: SuspensionMessage) -> list[Entry] | None:
    """Default responder: fire awaited timers, hand out invocation ids, nothing else."""
    cids, _sigs = susp.awaiting.leaves()
    done = {e.completion_id for e in inv.journal if isinstance(e, CompletionNotification)}
    out: list[Entry] = []
    for c in inv.commands():
        if isinstance(c, SleepCommand) and c.completion_id in cids and c.completion_id not in done:
            out.append(CompletionNotification(0, completion_id=c.completion_id, result=VOID))
        if isinstance(c, CallCommand | SendCommand):
            i = c.invocation_id_completion_id
            if i in cids and i not in done:
                out.append(CompletionNotification(0, completion_id=i, result=InvocationIdResult(f"inv_child{i}")))
    return out or None


class FakeServer:
    def __init__(self, app: Any, *, warm: bool = True, max_attempts: int = 20) -> None:
        self.app = app
        self.warm = warm
        self.max_attempts = max_attempts
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sdk")

    async def post(self, inv: Invocation, messages: list[Message]) -> list[Message]:
        r = await self.client.post(
            f"/invoke/{inv.service}/{inv.handler}",
            content=encode_frames(messages),
            headers={"content-type": invocation_content_type(), "accept": invocation_content_type()},
        )
        assert r.status_code == 200, r.text
        validate_frames(encode_frames(messages))
        validate_frames(r.content)
        return decode_frames(r.content)

    async def run(
        self,
        service: str,
        handler: str,
        parameter: Payload,
        *,
        key: str | None = None,
        state: dict[str, Any] | None = None,
        respond: Responder = complete_timers_and_ids,
        invocation_id: str = "inv_test1",
    ) -> Invocation:
        inv = Invocation(invocation_id, service, handler, key, [InputCommand(0, parameter=parameter)], dict(state or {}))
        resume = False
        while inv.attempts < self.max_attempts:
            inv.attempts += 1
            attempt_id = f"att{inv.attempts}"
            resume_from = inv.known_by_sdk if (resume and self.warm) else 0
            start = StartMessage(
                invocation_id=inv.invocation_id,
                service=service,
                handler=handler,
                key=key,
                attempt_id=attempt_id,
                journal_length=len(inv.journal),
                resume_from=resume_from,
                resume_attempt_id=inv.last_attempt if resume_from else None,
                state={k: {"value": v} for k, v in inv.state.items()} if resume_from == 0 else None,
                random_seed=42,
                retry_count=inv.retry_count,
            )
            req: list[Message] = [start, *inv.journal[resume_from:]]
            inv.requests.append(req)
            out = await self.post(inv, req)
            inv.responses.append(out)
            term = out[-1]
            if isinstance(term, ResumeMissMessage):
                resume = False
                continue
            for m in out[:-1]:
                if isinstance(m, Command):
                    assert m.index == len(inv.journal), (m, len(inv.journal))
                    inv.journal.append(m)
                    self._apply_state(inv, m)
            for m in out[:-1]:
                if isinstance(m, ProposeRunCompletionMessage):
                    inv.journal.append(inv.notify(m.completion_id, m.result))
            inv.last_attempt = attempt_id
            if isinstance(term, EndMessage):
                return inv
            if isinstance(term, ErrorMessage):
                inv.errors.append(term)
                inv.retry_count += 1
                resume = False
                continue
            assert isinstance(term, SuspensionMessage), term
            inv.retry_count = 0
            inv.known_by_sdk = len(inv.journal) - sum(isinstance(m, ProposeRunCompletionMessage) for m in out)
            cids, _ = term.awaiting.leaves()
            proposed = any(isinstance(m, ProposeRunCompletionMessage) for m in out)
            if not proposed or not any(
                isinstance(e, CompletionNotification) and e.completion_id in cids for e in inv.journal[inv.known_by_sdk :]
            ):
                extra = respond(inv, term)
                if not extra and not proposed:
                    return inv
                for e in extra or []:
                    inv.journal.append(_reindex(e, len(inv.journal)))
            resume = True
        raise AssertionError(f"gave up after {self.max_attempts} attempts: {inv.errors[-1:]}")

    @staticmethod
    def _apply_state(inv: Invocation, m: Command) -> None:
        from durable.protocol.messages import (
            ClearAllStateCommand,
            ClearStateCommand,
            SetStateCommand,
        )

        if isinstance(m, SetStateCommand) and isinstance(m.parameter, Value):
            inv.state[m.key] = m.parameter.value
        elif isinstance(m, ClearStateCommand):
            inv.state.pop(m.key, None)
        elif isinstance(m, ClearAllStateCommand):
            inv.state.clear()


def _reindex(e: Entry, index: int) -> Entry:
    from dataclasses import replace

    return replace(e, index=index)


def output_of(inv: Invocation) -> OutputCommand:
    outs = [e for e in inv.journal if isinstance(e, OutputCommand)]
    assert outs, f"no output; errors={inv.errors}"
    return outs[-1]
