"""The pure journal/replay state machine of one invocation (no asyncio, clock or randomness).

The shell calls one method per thing the handler does (``set_state``, ``run``, ``call``, ...).
Each call either *replays* (the journal already holds the next command: it must match in type
and in the command's ``DETERMINISM_FIELDS``, and the journal's version is returned) or *records*
(a new command is appended with the next index and queued for the response).

Notifications (completions and signals) are delivered only when the handler blocks
(:meth:`Machine.poll`), one at a time in journal order until what it waits on resolves, never
past a command that has not been replayed yet. Live execution and replay therefore observe
results identically, and a ``select`` that picks "the completed future with the lowest journal
index" is deterministic.

Everything time- or randomness-dependent (wake-up times, invoke times, random seeds) comes in
as arguments, so the machine can be driven synchronously with hand-written journals in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, TypeVar

from durable.protocol.errors import DurableError, JournalMismatch, RemoteProtocolViolation
from durable.protocol.messages import (
    CANCEL_SIGNAL_ID,
    FIRST_USER_SIGNAL_ID,
    VOID,
    AttachInvocationCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    Command,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    CompletionNotification,
    Entry,
    ErrorMessage,
    Failure,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    InvocationIdResult,
    Message,
    Notification,
    OutputCommand,
    Payload,
    PeekPromiseCommand,
    ProposeRunCompletionMessage,
    RawValue,
    Result,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalNotification,
    SleepCommand,
    StartMessage,
    SuspensionMessage,
    Value,
    Void,
    result_from_json,
)

from . import awaits
from .awaits import AwaitTree, Combine, Delivered, Leaf
from .diff import determinism_view, mismatch
from .ids import encode_awakeable_id

C = TypeVar("C", bound=Command)

StateValue = Value | RawValue


class PollOutcome(Enum):
    RESOLVED = "resolved"
    PENDING = "pending"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CallHandles:
    invocation_id: Leaf
    result: Leaf


def decode_state(raw: Mapping[str, object] | None) -> dict[str, StateValue]:
    """``start.state`` maps each key to a tagged payload (``{"value": ...}`` / ``{"value_bytes"}``)."""
    out: dict[str, StateValue] = {}
    for k, v in (raw or {}).items():
        if not isinstance(v, Mapping):
            raise RemoteProtocolViolation(f"start.state[{k!r}] must be a tagged payload object")
        r = result_from_json(v, (Value, RawValue))
        assert isinstance(r, Value | RawValue)
        out[k] = r
    return out


class Machine:
    """One invocation's journal, cursor and delivered results."""

    def __init__(self, start: StartMessage, entries: Sequence[Entry]) -> None:
        if start.resume_from != 0:
            raise RemoteProtocolViolation("a fresh session needs the full journal (resume_from = 0)")
        self.start = start
        self.entries: list[Entry] = []
        self._notified: set[int] = set()
        self._run_index: dict[int, int] = {}
        self._append_entries(0, entries, allow_commands=True)
        if len(self.entries) != start.journal_length:
            raise RemoteProtocolViolation(
                f"start.journal_length is {start.journal_length} but {len(self.entries)} entries arrived"
            )
        first = self.entries[0] if self.entries else None
        if not isinstance(first, InputCommand):
            raise RemoteProtocolViolation("journal entry 0 must be the input command")
        self.input: InputCommand = first
        self.cursor = 1
        self.delivered_upto = 1
        self.next_completion_id = 1
        self.next_signal_id = FIRST_USER_SIGNAL_ID
        self.completions: dict[int, Delivered] = {}
        self.signals: dict[int, Delivered] = {}
        self.state: dict[str, StateValue] = decode_state(start.state)
        self.cancel_consumed = False
        self.calls: list[CallHandles] = []
        self.proposed: set[int] = set()
        self.fatal: DurableError | None = None
        self.finished = False
        self._out_commands: list[Command] = []
        self._out_proposals: list[ProposeRunCompletionMessage] = []

    # ------------------------------------------------------------------ journal bookkeeping

    def _append_entries(self, first_index: int, entries: Sequence[Entry], *, allow_commands: bool) -> None:
        for offset, e in enumerate(entries):
            if e.index != first_index + offset:
                raise RemoteProtocolViolation(
                    f"journal entry {e.TYPE} has index {e.index}, expected {first_index + offset}"
                )
            if not allow_commands and not isinstance(e, Notification):
                raise RemoteProtocolViolation(f"a warm resume may only carry notifications, got {e.TYPE}")
            self.entries.append(e)
            if isinstance(e, CompletionNotification):
                self._notified.add(e.completion_id)

    @property
    def invocation_id(self) -> str:
        return self.start.invocation_id

    @property
    def key(self) -> str | None:
        return self.start.key

    @property
    def known_length(self) -> int:
        return len(self.entries)

    def _next_command_pos(self) -> int | None:
        for i in range(self.cursor, len(self.entries)):
            if isinstance(self.entries[i], Command):
                return i
        return None

    def is_replaying(self) -> bool:
        return self._next_command_pos() is not None


    def resume(self, start: StartMessage, entries: Sequence[Entry]) -> bool:
        """Warm resume: continue this session with only the new notifications, if lengths agree."""
        if start.resume_from != self.known_length or start.invocation_id != self.invocation_id:
            return False
        self._append_entries(start.resume_from, entries, allow_commands=False)
        if len(self.entries) != start.journal_length:
            raise RemoteProtocolViolation("start.journal_length does not match the entries sent")
        self.start = start if start.state is None else replace(start, state=None)
        return True

    # ------------------------------------------------------------------ commands

    def _check(self) -> None:
        if self.fatal is not None:
            raise self.fatal
        if self.finished:
            raise DurableError("the handler already produced its output")

    def _command(self, cls: type[C], /, **fields: Any) -> C:
        """Replay the next journal command (it must match ``cls(**fields)``) or record it."""
        self._check()
        pos = self._next_command_pos()
        if pos is None:
            new = cls(len(self.entries), **fields)
            self.entries.append(new)
            self.cursor = len(self.entries)
            self._out_commands.append(new)
            return new
        expected = self.entries[pos]
        assert isinstance(expected, Command)
        actual = cls(pos, **fields)
        if type(expected) is not cls or determinism_view(expected) != determinism_view(actual):
            self.fatal = mismatch(pos, expected, actual)
            raise self.fatal
        self.cursor = pos + 1
        return expected

    def _completion_id(self) -> int:
        cid = self.next_completion_id
        self.next_completion_id += 1
        return cid

    def get_state(self, key: str) -> Value | RawValue | Void:
        cmd = self._command(GetStateCommand, key=key, result=self.state.get(key, VOID))
        return cmd.result

    def get_state_keys(self) -> tuple[str, ...]:
        return self._command(GetStateKeysCommand, keys=tuple(sorted(self.state))).keys

    def set_state(self, key: str, value: StateValue) -> None:
        self._command(SetStateCommand, key=key, parameter=value)
        self.state[key] = value

    def clear_state(self, key: str) -> None:
        self._command(ClearStateCommand, key=key)
        self.state.pop(key, None)

    def clear_all_state(self) -> None:
        self._command(ClearAllStateCommand)
        self.state.clear()

    def sleep(self, wake_up_time_ms: int, name: str | None = None) -> tuple[SleepCommand, Leaf]:
        cid = self._completion_id()
        cmd = self._command(SleepCommand, completion_id=cid, wake_up_time_ms=wake_up_time_ms, name=name)
        return cmd, Leaf("completion", cid)

    def run(self, name: str | None) -> tuple[Leaf, bool]:
        """Record a run; the second value says whether the shell must execute the closure now."""
        cid = self._completion_id()
        cmd = self._command(RunCommand, completion_id=cid, name=name)
        self._run_index[cid] = cmd.index
        execute = cid not in self.proposed and cid not in self._notified
        return Leaf("completion", cid), execute

    def run_command_index(self, completion_id: int) -> int | None:
        return self._run_index.get(completion_id)

    def propose_run(self, completion_id: int, result: Value | RawValue | Void | Failure) -> None:
        self._check()
        if completion_id in self.proposed:
            return
        self.proposed.add(completion_id)
        self._out_proposals.append(ProposeRunCompletionMessage(completion_id=completion_id, result=result))

    def call(
        self,
        service: str,
        handler: str,
        parameter: Payload,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        name: str | None = None,
    ) -> CallHandles:
        id_cid = self._completion_id()
        res_cid = self._completion_id()
        self._command(
            CallCommand,
            completion_id=res_cid,
            invocation_id_completion_id=id_cid,
            service=service,
            handler=handler,
            key=key,
            parameter=parameter,
            headers=dict(headers) if headers else None,
            idempotency_key=idempotency_key,
            name=name,
        )
        handles = CallHandles(Leaf("completion", id_cid), Leaf("completion", res_cid))
        self.calls.append(handles)
        return handles

    def send(
        self,
        service: str,
        handler: str,
        parameter: Payload,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        invoke_time_ms: int | None = None,
        name: str | None = None,
    ) -> Leaf:
        id_cid = self._completion_id()
        self._command(
            SendCommand,
            invocation_id_completion_id=id_cid,
            service=service,
            handler=handler,
            key=key,
            parameter=parameter,
            headers=dict(headers) if headers else None,
            idempotency_key=idempotency_key,
            invoke_time_ms=invoke_time_ms,
            name=name,
        )
        return Leaf("completion", id_cid)

    def get_promise(self, key: str) -> Leaf:
        cid = self._completion_id()
        self._command(GetPromiseCommand, completion_id=cid, key=key)
        return Leaf("completion", cid)

    def peek_promise(self, key: str) -> Leaf:
        cid = self._completion_id()
        self._command(PeekPromiseCommand, completion_id=cid, key=key)
        return Leaf("completion", cid)

    def complete_promise(self, key: str, result: Value | RawValue | Failure) -> Leaf:
        cid = self._completion_id()
        self._command(CompletePromiseCommand, completion_id=cid, key=key, result=result)
        return Leaf("completion", cid)

    def awakeable(self) -> tuple[str, Leaf]:
        """A new awakeable: no command, just the next user signal id (deterministic)."""
        self._check()
        sid = self.next_signal_id
        self.next_signal_id += 1
        return encode_awakeable_id(self.invocation_id, sid), Leaf("signal", sid)

    def complete_awakeable(self, awakeable_id: str, result: Value | RawValue | Failure) -> None:
        self._command(CompleteAwakeableCommand, awakeable_id=awakeable_id, result=result)

    def send_signal(
        self, target_invocation_id: str, signal_id: int, result: Value | RawValue | Void | Failure = VOID
    ) -> None:
        self._command(SendSignalCommand, target_invocation_id=target_invocation_id, signal_id=signal_id, result=result)

    def attach_invocation(self, target: Mapping[str, str]) -> Leaf:
        cid = self._completion_id()
        self._command(AttachInvocationCommand, completion_id=cid, target=dict(target))
        return Leaf("completion", cid)

    def get_invocation_output(self, target: Mapping[str, str]) -> Leaf:
        cid = self._completion_id()
        self._command(GetInvocationOutputCommand, completion_id=cid, target=dict(target))
        return Leaf("completion", cid)

    def output(self, result: Value | RawValue | Void | Failure) -> None:
        self._command(OutputCommand, result=result)
        pos = self._next_command_pos()
        if pos is not None:
            extra = self.entries[pos]
            assert isinstance(extra, Command)
            self.fatal = mismatch(
                pos, extra, None, "the handler returned, but the journal has more commands"
            )
            raise self.fatal
        self.finished = True

    # ------------------------------------------------------------------ waiting

    def lookup(self, leaf: Leaf) -> Delivered | None:
        table = self.completions if leaf.kind == "completion" else self.signals
        return table.get(leaf.id)

    def result_of(self, leaf: Leaf) -> Result | None:
        d = self.lookup(leaf)
        return d[1] if d is not None else None

    def is_resolved(self, tree: AwaitTree) -> bool:
        return awaits.is_resolved(tree, self.lookup)

    def resolved_index(self, tree: AwaitTree) -> int | None:
        return awaits.resolved_index(tree, self.lookup)

    def _next_notification(self) -> int | None:
        """Position of the next undelivered notification before the next unreplayed command."""
        i = self.delivered_upto
        while i < len(self.entries):
            if isinstance(self.entries[i], Notification):
                return i
            if i >= self.cursor:
                return None
            i += 1
            self.delivered_upto = i  # a replayed command: nothing to deliver there
        return None

    def _deliver(self, i: int) -> bool:
        """Deliver entry ``i``; True if it is a (first) cancel signal."""
        e = self.entries[i]
        self.delivered_upto = i + 1
        if isinstance(e, CompletionNotification):
            self.completions.setdefault(e.completion_id, (e.index, e.result))
        elif isinstance(e, SignalNotification):
            if e.signal_id == CANCEL_SIGNAL_ID:
                return not self.cancel_consumed
            self.signals.setdefault(e.signal_id, (e.index, e.result))
        return False

    def poll(self, tree: AwaitTree) -> PollOutcome:
        """The handler blocks on ``tree``: deliver notifications one at a time, in journal order,
        until ``tree`` resolves or the next entry is a command not replayed yet (or the end).

        One at a time (rather than everything up to the next command) keeps what the handler
        observes identical live and on replay, whatever the notifications were batched into.
        A cancel signal wins (once): the shell then waits for the invocation ids of unfinished
        child calls (:meth:`child_ids_pending`), forwards the cancel to them
        (:meth:`forward_cancel`) and raises a 409 terminal error in the handler."""
        self._check()
        while not self.is_resolved(tree):
            i = self._next_notification()
            if i is None:
                return PollOutcome.PENDING
            if self._deliver(i):
                self.cancel_consumed = True
                return PollOutcome.CANCELLED
        return PollOutcome.RESOLVED

    def child_ids_pending(self) -> AwaitTree | None:
        """The invocation ids still unknown of child calls that have not finished, if any."""
        ids = [
            h.invocation_id
            for h in self.calls
            if self.result_of(h.result) is None and self.result_of(h.invocation_id) is None
        ]
        if not ids:
            return None
        return ids[0] if len(ids) == 1 else Combine("all_completed", tuple(ids))

    def forward_cancel(self) -> None:
        """Cancel every child call that has not finished (``send_signal`` with signal 1)."""
        for h in self.calls:
            inv = self.result_of(h.invocation_id)
            if isinstance(inv, InvocationIdResult) and self.result_of(h.result) is None:
                self.send_signal(inv.invocation_id, CANCEL_SIGNAL_ID)

    def suspension(self, trees: Sequence[AwaitTree]) -> SuspensionMessage:
        """End the attempt waiting on ``trees`` (plus the cancel signal, if not yet seen)."""
        self._check()
        pos = self._next_command_pos()
        if pos is not None:
            expected = self.entries[pos]
            assert isinstance(expected, Command)
            self.fatal = mismatch(
                pos,
                expected,
                None,
                "the handler is waiting, but the journal has more commands it did not replay",
            )
            raise self.fatal
        children: list[AwaitTree] = [p for t in trees if (p := awaits.prune(t, self.lookup)) is not None]
        if not self.cancel_consumed:
            children.insert(0, Leaf("signal", CANCEL_SIGNAL_ID))
        if not children:
            raise DurableError("the handler waits on nothing that can still complete")
        tree: AwaitTree = children[0] if len(children) == 1 else Combine("first_completed", tuple(children))
        return SuspensionMessage(awaiting=awaits.to_future(tree))

    # ------------------------------------------------------------------ output

    def take_messages(self) -> list[Message]:
        """New commands (in index order), then run proposals; the caller adds the terminator."""
        out: list[Message] = [*self._out_commands, *self._out_proposals]
        self._out_commands.clear()
        self._out_proposals.clear()
        return out

    def error_message(
        self,
        code: int,
        message: str,
        *,
        stacktrace: str | None = None,
        related: Command | None = None,
        next_retry_delay_ms: int | None = None,
    ) -> ErrorMessage:
        return ErrorMessage(
            code=code,
            message=message,
            stacktrace=stacktrace,
            related_command_index=related.index if related is not None else None,
            related_command_type=related.TYPE if related is not None else None,
            related_command_name=getattr(related, "name", None) if related is not None else None,
            next_retry_delay_ms=next_retry_delay_ms,
        )

    def mismatch_error(self, exc: JournalMismatch) -> ErrorMessage:
        expected_type = exc.expected.get("type") if exc.expected else None
        return ErrorMessage(
            code=exc.code,
            message=exc.message,
            related_command_index=exc.command_index,
            related_command_type=str(expected_type) if expected_type is not None else None,
        )


__all__ = ["CallHandles", "Machine", "PollOutcome"]
