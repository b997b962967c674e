"""Wire messages of the Durable Execution Protocol v1 (spec/02-wire-protocol.md).

Every message is a frozen, slotted dataclass validated on construction, and maps one-to-one
onto a JSON object with a ``"type"`` discriminator (the JSON Schemas in ``spec/schemas/``).
This module is pure: it turns dicts into messages and messages into dicts. Framing (NDJSON,
one message per line) lives in :mod:`durable.protocol.framing`.

Payloads and results are small tagged values rather than bare JSON so that ``null`` (a JSON
value), *void* (no value) and raw bytes (a non-JSON body) stay distinct on the wire:
``{"value": X}``, ``{"value_bytes": "<base64>"}``, ``{"void": true}``, ``{"failure": {...}}``,
``{"invocation_id": "inv_..."}``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeAlias

from .errors import ProtocolViolation

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1
MAX_PROTOCOL_VERSION = 1
INVOCATION_CONTENT_TYPE = "application/vnd.durable.invocation.v{version}+ndjson"
MANIFEST_CONTENT_TYPE = "application/vnd.durable.endpointmanifest.v1+json"
#: request header of a streaming invoke request whose head went out before its first turn
#: (WIRE-STREAM-16): the turn follows once it is durable
TURN_FOLLOWS_HEADER = "x-durable-turn-follows"

CANCEL_SIGNAL_ID = 1
FIRST_USER_SIGNAL_ID = 17

Json: TypeAlias = Any


def invocation_content_type(version: int = PROTOCOL_VERSION) -> str:
    return INVOCATION_CONTENT_TYPE.format(version=version)


@functools.lru_cache(maxsize=64)
def parse_invocation_content_type(value: str) -> int | None:
    """Return the protocol version named by a content type, or None if it is not ours."""
    base = value.split(";", 1)[0].strip().lower()
    prefix, suffix = "application/vnd.durable.invocation.v", "+ndjson"
    if not (base.startswith(prefix) and base.endswith(suffix)):
        return None
    digits = base[len(prefix) : -len(suffix)]
    return int(digits) if digits.isdigit() else None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Value:
    """A JSON value (which may be JSON null)."""

    value: Json


@dataclass(frozen=True, slots=True)
class RawValue:
    """Bytes that are not JSON (e.g. an ``application/octet-stream`` body)."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ProtocolViolation("value_bytes must be bytes")


@dataclass(frozen=True, slots=True)
class Void:
    """No value at all (an empty body, a fired timer, a cleared state key)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A terminal failure. ``code`` follows HTTP conventions (spec/07-errors.md)."""

    code: int
    message: str
    metadata: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or isinstance(self.code, bool):
            raise ProtocolViolation("failure.code must be an integer")
        if not 0 <= self.code <= 65535:
            raise ProtocolViolation("failure.code must be within 0..65535")
        if not isinstance(self.message, str):
            raise ProtocolViolation("failure.message must be a string")
        if self.metadata is not None:
            if not isinstance(self.metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.metadata.items()
            ):
                raise ProtocolViolation("failure.metadata must be an object of strings")
            if not self.metadata:
                object.__setattr__(self, "metadata", None)

    def to_json(self) -> dict[str, Json]:
        out: dict[str, Json] = {"code": self.code, "message": self.message}
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True, slots=True)
class InvocationIdResult:
    """The id of an invocation started by a ``call`` or ``send`` command."""

    invocation_id: str


VOID = Void()
Payload: TypeAlias = Value | RawValue | Void
Result: TypeAlias = Value | RawValue | Void | Failure | InvocationIdResult


def result_to_json(result: Result, out: dict[str, Json]) -> None:
    if type(result) is Value:
        out["value"] = result.value
    elif type(result) is Void:
        out["void"] = True
    elif isinstance(result, Value):
        out["value"] = result.value
    elif isinstance(result, RawValue):
        out["value_bytes"] = base64.b64encode(result.data).decode("ascii")
    elif isinstance(result, Void):
        out["void"] = True
    elif isinstance(result, Failure):
        out["failure"] = result.to_json()
    elif isinstance(result, InvocationIdResult):
        out["invocation_id"] = result.invocation_id
    else:  # pragma: no cover - exhaustive
        raise TypeError(f"not a result: {result!r}")


_RESULT_KEYS = ("value", "value_bytes", "void", "failure", "invocation_id")


def result_from_json(obj: Mapping[str, Json], allowed: tuple[type, ...] | None = None) -> Result:
    present = [k for k in _RESULT_KEYS if k in obj]
    if len(present) != 1:
        raise ProtocolViolation(
            f"expected exactly one of {', '.join(_RESULT_KEYS)}; got {present or 'none'}"
        )
    key = present[0]
    raw = obj[key]
    result: Result
    if key == "value":
        result = Value(raw)
    elif key == "void":
        if raw is not True:
            raise ProtocolViolation("void must be true")
        result = VOID
    elif key == "value_bytes":
        if not isinstance(raw, str):
            raise ProtocolViolation("value_bytes must be a base64 string")
        try:
            result = RawValue(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ProtocolViolation(f"value_bytes is not valid base64: {exc}") from exc
    elif key == "failure":
        if not isinstance(raw, Mapping):
            raise ProtocolViolation("failure must be an object")
        unknown = set(raw) - {"code", "message", "metadata"}
        if unknown:
            raise ProtocolViolation(f"unknown field(s) {sorted(unknown)} in failure")
        try:
            result = Failure(raw["code"], raw["message"], raw.get("metadata"))
        except KeyError as exc:
            raise ProtocolViolation(f"failure lacks {exc}") from exc
    else:
        if not isinstance(raw, str):
            raise ProtocolViolation("invocation_id must be a string")
        result = InvocationIdResult(raw)
    if allowed is not None and not isinstance(result, allowed):
        raise ProtocolViolation(f"{key} is not allowed here")
    return result


PAYLOAD_TYPES: tuple[type, ...] = (Value, RawValue, Void)
COMPLETION_TYPES: tuple[type, ...] = (Value, RawValue, Failure)


# --------------------------------------------------------------------------- futures

Combinator = Literal[
    "first_completed", "all_completed", "first_succeeded_or_all_failed", "all_succeeded_or_first_failed"
]
COMBINATORS: tuple[str, ...] = (
    "first_completed",
    "all_completed",
    "first_succeeded_or_all_failed",
    "all_succeeded_or_first_failed",
)


@dataclass(frozen=True, slots=True)
class Future:
    """The await tree carried by ``suspension`` (what the handler waits on)."""

    combinator: str = "first_completed"
    completion_ids: tuple[int, ...] = ()
    signal_ids: tuple[int, ...] = ()
    nested: tuple[Future, ...] = ()

    def __post_init__(self) -> None:
        if self.combinator not in COMBINATORS:
            raise ProtocolViolation(f"unknown combinator {self.combinator!r}")

    def is_empty(self) -> bool:
        return not (self.completion_ids or self.signal_ids or any(not n.is_empty() for n in self.nested))

    def leaves(self) -> tuple[set[int], set[int]]:
        completions, signals = set(self.completion_ids), set(self.signal_ids)
        for n in self.nested:
            c, s = n.leaves()
            completions |= c
            signals |= s
        return completions, signals

    def to_json(self) -> dict[str, Json]:
        out: dict[str, Json] = {"combinator": self.combinator}
        if self.completion_ids:
            out["completion_ids"] = list(self.completion_ids)
        if self.signal_ids:
            out["signal_ids"] = list(self.signal_ids)
        if self.nested:
            out["nested"] = [n.to_json() for n in self.nested]
        return out

    @classmethod
    def from_json(cls, obj: Json, depth: int = 0) -> Future:
        if not isinstance(obj, Mapping):
            raise ProtocolViolation("awaiting must be an object")
        if depth > 16:
            raise ProtocolViolation("await tree deeper than 16 levels")
        unknown = set(obj) - {"combinator", "completion_ids", "signal_ids", "nested"}
        if unknown:
            raise ProtocolViolation(f"unknown field(s) {sorted(unknown)} in an await tree")
        if not isinstance(obj.get("nested", []), list):
            raise ProtocolViolation("nested must be a list")
        future = cls(
            combinator=obj.get("combinator", "first_completed"),
            completion_ids=tuple(_int_list(obj.get("completion_ids", []), "completion_ids")),
            signal_ids=tuple(_int_list(obj.get("signal_ids", []), "signal_ids")),
            nested=tuple(cls.from_json(n, depth + 1) for n in obj.get("nested", [])),
        )
        if any(n.is_empty() for n in future.nested):
            raise ProtocolViolation("a nested await tree must not be empty")
        return future


def _int_list(v: Json, name: str) -> list[int]:
    if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in v):
        raise ProtocolViolation(f"{name} must be a list of positive integers")
    return v


# --------------------------------------------------------------------------- base classes


@dataclass(frozen=True, slots=True)
class Message:
    TYPE: ClassVar[str] = ""

    def to_json(self) -> dict[str, Json]:
        out: dict[str, Json] = {"type": self.TYPE}
        for name in field_names(type(self)):
            v = getattr(self, name)
            if name == "result":
                result_to_json(v, out)
            elif name == "parameter":
                sub: dict[str, Json] = {}
                result_to_json(v, sub)
                out["parameter"] = sub
            elif v is None:
                continue
            elif type(v) is int or type(v) is str:
                out[name] = v
            elif isinstance(v, Future):
                out[name] = v.to_json()
            elif isinstance(v, tuple):
                out[name] = list(v)
            elif isinstance(v, Mapping):
                out[name] = dict(v)
            else:
                out[name] = v
        return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type[Message]) -> tuple[str, ...]:
    """The dataclass field names of a message class, in declaration order (computed once)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class Entry(Message):
    """A journal entry: a command (SDK-created) or a notification (server-created)."""

    index: int

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or isinstance(self.index, bool) or self.index < 0:
            raise ProtocolViolation(f"{self.TYPE}.index must be a non-negative integer")


@dataclass(frozen=True, slots=True)
class Command(Entry):
    """Commands are what the handler did; replay matches them in order."""

    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ()
    #: fields compared on replay to detect non-determinism (spec JRN-REPLAY-*)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ()

    def completion_ids(self) -> tuple[int, ...]:
        return tuple(getattr(self, f) for f in self.COMPLETION_FIELDS)


@dataclass(frozen=True, slots=True)
class Notification(Entry):
    """Notifications are what happened to the handler; the server appends them."""


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class InputCommand(Command):
    TYPE: ClassVar[str] = "input"
    parameter: Payload = VOID
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutputCommand(Command):
    TYPE: ClassVar[str] = "output"
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("result",)
    result: Value | RawValue | Void | Failure = VOID


@dataclass(frozen=True, slots=True)
class GetStateCommand(Command):
    """Eager read: the result is recorded inline (``value`` or ``void`` when unset)."""

    TYPE: ClassVar[str] = "get_state"
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("key",)
    key: str = ""
    result: Value | RawValue | Void = VOID


@dataclass(frozen=True, slots=True)
class GetStateKeysCommand(Command):
    TYPE: ClassVar[str] = "get_state_keys"
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetStateCommand(Command):
    TYPE: ClassVar[str] = "set_state"
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("key", "parameter")
    key: str = ""
    parameter: Value | RawValue = Value(None)


@dataclass(frozen=True, slots=True)
class ClearStateCommand(Command):
    TYPE: ClassVar[str] = "clear_state"
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("key",)
    key: str = ""


@dataclass(frozen=True, slots=True)
class ClearAllStateCommand(Command):
    TYPE: ClassVar[str] = "clear_all_state"


@dataclass(frozen=True, slots=True)
class SleepCommand(Command):
    TYPE: ClassVar[str] = "sleep"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "name")
    completion_id: int = 0
    wake_up_time_ms: int = 0
    name: str | None = None


@dataclass(frozen=True, slots=True)
class RunCommand(Command):
    TYPE: ClassVar[str] = "run"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "name")
    completion_id: int = 0
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CallCommand(Command):
    TYPE: ClassVar[str] = "call"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("invocation_id_completion_id", "completion_id")
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = (
        "completion_id",
        "invocation_id_completion_id",
        "service",
        "handler",
        "key",
        "parameter",
        "headers",
        "idempotency_key",
        "name",
    )
    completion_id: int = 0
    invocation_id_completion_id: int = 0
    service: str = ""
    handler: str = ""
    key: str | None = None
    parameter: Payload = VOID
    headers: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SendCommand(Command):
    """A one-way call; ``invoke_time_ms`` (epoch ms) delays it, absent means now."""

    TYPE: ClassVar[str] = "send"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("invocation_id_completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = (
        "invocation_id_completion_id",
        "service",
        "handler",
        "key",
        "parameter",
        "headers",
        "idempotency_key",
        "name",
    )
    invocation_id_completion_id: int = 0
    service: str = ""
    handler: str = ""
    key: str | None = None
    parameter: Payload = VOID
    headers: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    invoke_time_ms: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GetPromiseCommand(Command):
    TYPE: ClassVar[str] = "get_promise"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "key")
    completion_id: int = 0
    key: str = ""


@dataclass(frozen=True, slots=True)
class PeekPromiseCommand(Command):
    TYPE: ClassVar[str] = "peek_promise"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "key")
    completion_id: int = 0
    key: str = ""


@dataclass(frozen=True, slots=True)
class CompletePromiseCommand(Command):
    """Resolve (``value``/``value_bytes``) or reject (``failure``) a workflow promise.

    Its completion is ``void`` on success or a 409 failure if the promise was already
    completed (spec JRN-PROMISE-*)."""

    TYPE: ClassVar[str] = "complete_promise"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "key", "result")
    completion_id: int = 0
    key: str = ""
    result: Value | RawValue | Failure = Value(None)


@dataclass(frozen=True, slots=True)
class CompleteAwakeableCommand(Command):
    TYPE: ClassVar[str] = "complete_awakeable"
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("awakeable_id", "result")
    awakeable_id: str = ""
    result: Value | RawValue | Failure = Value(None)


@dataclass(frozen=True, slots=True)
class SendSignalCommand(Command):
    """Deliver a signal to another invocation; signal 1 (void) cancels it."""

    TYPE: ClassVar[str] = "send_signal"
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("target_invocation_id", "signal_id", "result")
    target_invocation_id: str = ""
    signal_id: int = CANCEL_SIGNAL_ID
    result: Value | RawValue | Void | Failure = VOID


@dataclass(frozen=True, slots=True)
class AttachInvocationCommand(Command):
    """Wait for another invocation's result. ``target`` is an attach target object
    (``{"invocation_id"}`` or ``{"workflow_name","workflow_key"}`` or
    ``{"service","key"?,"handler","idempotency_key"}``)."""

    TYPE: ClassVar[str] = "attach_invocation"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "target")
    completion_id: int = 0
    target: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GetInvocationOutputCommand(Command):
    """Like attach, but completes at once: ``void`` if the target has not finished."""

    TYPE: ClassVar[str] = "get_invocation_output"
    COMPLETION_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id",)
    DETERMINISM_FIELDS: ClassVar[tuple[str, ...]] = ("completion_id", "target")
    completion_id: int = 0
    target: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- notifications


@dataclass(frozen=True, slots=True)
class CompletionNotification(Notification):
    TYPE: ClassVar[str] = "completion"
    completion_id: int = 0
    result: Result = VOID


@dataclass(frozen=True, slots=True)
class SignalNotification(Notification):
    """Signal 1 is cancel; ids 2..16 are reserved; user awakeables start at 17."""

    TYPE: ClassVar[str] = "signal"
    signal_id: int = 0
    result: Value | RawValue | Void | Failure = VOID


# --------------------------------------------------------------------------- control


@dataclass(frozen=True, slots=True)
class StartMessage(Message):
    """First line of every invoke request.

    The request then carries journal entries ``resume_from .. journal_length-1``.
    ``resume_from == 0``: the full journal, the SDK replays from the start.
    ``resume_from > 0``: a warm resume of the session the SDK suspended in attempt
    ``resume_attempt_id``; the SDK answers ``resume_miss`` if it does not hold it.
    ``state`` (eager state, full map) is sent only when ``resume_from == 0``.
    """

    TYPE: ClassVar[str] = "start"
    invocation_id: str = ""
    service: str = ""
    handler: str = ""
    key: str | None = None
    attempt_id: str = ""
    journal_length: int = 0
    resume_from: int = 0
    resume_attempt_id: str | None = None
    state: Mapping[str, Json] | None = None
    random_seed: int = 0
    retry_count: int = 0
    retry_duration_ms: int = 0

    def __post_init__(self) -> None:
        if not self.invocation_id:
            raise ProtocolViolation("start.invocation_id is required")
        if not 0 <= self.resume_from <= self.journal_length:
            raise ProtocolViolation("start.resume_from must be within 0..journal_length")
        if self.resume_from > 0 and not self.resume_attempt_id:
            raise ProtocolViolation("a warm resume needs resume_attempt_id")


@dataclass(frozen=True, slots=True)
class ProposeRunCompletionMessage(Message):
    TYPE: ClassVar[str] = "propose_run_completion"
    completion_id: int = 0
    result: Value | RawValue | Void | Failure = VOID


@dataclass(frozen=True, slots=True)
class SuspensionMessage(Message):
    TYPE: ClassVar[str] = "suspension"
    awaiting: Future = field(default_factory=Future)

    def __post_init__(self) -> None:
        if self.awaiting.is_empty():
            raise ProtocolViolation("suspension.awaiting must not be empty")


@dataclass(frozen=True, slots=True)
class ErrorMessage(Message):
    """The attempt failed and should be retried (never terminal: see spec WIRE-END-*)."""

    TYPE: ClassVar[str] = "error"
    code: int = 500
    message: str = ""
    stacktrace: str | None = None
    related_command_index: int | None = None
    related_command_type: str | None = None
    related_command_name: str | None = None
    next_retry_delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class EndMessage(Message):
    TYPE: ClassVar[str] = "end"


@dataclass(frozen=True, slots=True)
class ResumeMissMessage(Message):
    """The SDK does not hold the session named by a warm resume: resend the full journal."""

    TYPE: ClassVar[str] = "resume_miss"


TERMINATORS: tuple[type[Message], ...] = (EndMessage, SuspensionMessage, ErrorMessage, ResumeMissMessage)

COMMAND_TYPES: dict[str, type[Command]] = {
    c.TYPE: c
    for c in (
        InputCommand,
        OutputCommand,
        GetStateCommand,
        GetStateKeysCommand,
        SetStateCommand,
        ClearStateCommand,
        ClearAllStateCommand,
        SleepCommand,
        RunCommand,
        CallCommand,
        SendCommand,
        GetPromiseCommand,
        PeekPromiseCommand,
        CompletePromiseCommand,
        CompleteAwakeableCommand,
        SendSignalCommand,
        AttachInvocationCommand,
        GetInvocationOutputCommand,
    )
}
NOTIFICATION_TYPES: dict[str, type[Notification]] = {
    n.TYPE: n for n in (CompletionNotification, SignalNotification)
}
CONTROL_TYPES: dict[str, type[Message]] = {
    m.TYPE: m
    for m in (
        StartMessage,
        ProposeRunCompletionMessage,
        SuspensionMessage,
        ErrorMessage,
        EndMessage,
        ResumeMissMessage,
    )
}
MESSAGE_TYPES: dict[str, type[Message]] = {**COMMAND_TYPES, **NOTIFICATION_TYPES, **CONTROL_TYPES}

_RESULT_ALLOWED: dict[type[Message], tuple[type, ...]] = {
    OutputCommand: (Value, RawValue, Void, Failure),
    GetStateCommand: (Value, RawValue, Void),
    CompletePromiseCommand: COMPLETION_TYPES,
    CompleteAwakeableCommand: COMPLETION_TYPES,
    SendSignalCommand: (Value, RawValue, Void, Failure),
    SignalNotification: (Value, RawValue, Void, Failure),
    ProposeRunCompletionMessage: (Value, RawValue, Void, Failure),
}


_RESULT_KEY_SET = frozenset(_RESULT_KEYS)
_SPECIAL_FIELDS = frozenset({"result", "parameter", "awaiting", "keys"})


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to decode one message class (computed once per class)."""

    plain: tuple[str, ...]  # fields copied as they are, then type-checked
    result: bool
    parameter: bool
    awaiting: bool
    keys: bool
    allowed: frozenset[str]  # the JSON keys the message may carry
    required: tuple[str, ...]


_DECODE_PLAN: dict[type[Message], _Plan] = {}


def _decode_plan(cls: type[Message]) -> _Plan:
    plan = _DECODE_PLAN.get(cls)
    if plan is None:
        names = field_names(cls)
        allowed = {*names, "type"}
        if "result" in names:
            allowed |= _RESULT_KEY_SET
        plan = _DECODE_PLAN[cls] = _Plan(
            plain=tuple(n for n in names if n not in _SPECIAL_FIELDS),
            result="result" in names,
            parameter="parameter" in names,
            awaiting="awaiting" in names,
            keys="keys" in names,
            allowed=frozenset(allowed),
            required=_REQUIRED.get(cls.TYPE, ()),
        )
    return plan


def decode_message(obj: Json) -> Message:
    """Build a message from a decoded JSON object, validating shape and types."""
    if not isinstance(obj, Mapping):
        raise ProtocolViolation("a message must be a JSON object")
    type_name = obj.get("type")
    cls = MESSAGE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ProtocolViolation(f"unknown message type {type_name!r}")
    plan = _decode_plan(cls)
    kwargs: dict[str, Any] = {name: obj[name] for name in plan.plain if name in obj}
    if plan.result:
        kwargs["result"] = result_from_json(obj, _RESULT_ALLOWED.get(cls))
    if plan.parameter and "parameter" in obj:
        p = obj["parameter"]
        if not isinstance(p, Mapping):
            raise ProtocolViolation("parameter must be an object")
        kwargs["parameter"] = result_from_json(p, PAYLOAD_TYPES)
    if plan.awaiting:
        if "awaiting" not in obj:
            raise ProtocolViolation("suspension.awaiting is required")
        kwargs["awaiting"] = Future.from_json(obj["awaiting"])
    if plan.keys and "keys" in obj:
        v = obj["keys"]
        if not isinstance(v, list) or not all(isinstance(k, str) for k in v):
            raise ProtocolViolation("keys must be a list of strings")
        kwargs["keys"] = tuple(v)
    if not plan.allowed.issuperset(obj):
        extra = set(obj) - plan.allowed
        raise ProtocolViolation(f"unknown field(s) {sorted(extra)} in {type_name}")
    missing = [f for f in plan.required if f not in obj]
    if missing:
        raise ProtocolViolation(f"{type_name} lacks required field(s) {missing}")
    _check_field_types(cls, kwargs)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolViolation(f"bad {type_name}: {exc}") from exc


_STR_FIELDS = {
    "key", "service", "handler", "name", "idempotency_key", "awakeable_id", "target_invocation_id",
    "invocation_id", "attempt_id", "resume_attempt_id", "message", "stacktrace", "related_command_type",
    "related_command_name",
}
_INT_FIELDS = {
    "index", "completion_id", "invocation_id_completion_id", "wake_up_time_ms", "invoke_time_ms",
    "signal_id", "journal_length", "resume_from", "random_seed", "retry_count", "retry_duration_ms",
    "code", "related_command_index", "next_retry_delay_ms",
}
_OPTIONAL = {"key", "name", "idempotency_key", "resume_attempt_id", "stacktrace", "related_command_type",
             "related_command_name", "invoke_time_ms", "related_command_index", "next_retry_delay_ms",
             "headers", "state"}


# Required fields per message type (besides ``type`` and the result, checked separately);
# kept equal to the ``required`` lists of spec/schemas/messages/*.json by tests/protocol.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "input": ("index", "parameter", "headers"),
    "output": ("index",),
    "get_state": ("index", "key"),
    "get_state_keys": ("index", "keys"),
    "set_state": ("index", "key", "parameter"),
    "clear_state": ("index", "key"),
    "clear_all_state": ("index",),
    "sleep": ("index", "completion_id", "wake_up_time_ms"),
    "run": ("index", "completion_id"),
    "call": ("index", "completion_id", "invocation_id_completion_id", "service", "handler", "parameter"),
    "send": ("index", "invocation_id_completion_id", "service", "handler", "parameter"),
    "get_promise": ("index", "completion_id", "key"),
    "peek_promise": ("index", "completion_id", "key"),
    "complete_promise": ("index", "completion_id", "key"),
    "complete_awakeable": ("index", "awakeable_id"),
    "send_signal": ("index", "target_invocation_id", "signal_id"),
    "attach_invocation": ("index", "completion_id", "target"),
    "get_invocation_output": ("index", "completion_id", "target"),
    "completion": ("index", "completion_id"),
    "signal": ("index", "signal_id"),
    "start": (
        "invocation_id", "service", "handler", "attempt_id", "journal_length", "resume_from",
        "random_seed", "retry_count", "retry_duration_ms",
    ),
    "propose_run_completion": ("completion_id",),
    "suspension": ("awaiting",),
    "error": ("code", "message"),
    "end": (),
    "resume_miss": (),
}

# Inclusive lower bounds of integer fields (ids start at 1; times, counts and indices at 0).
_MINIMUM = {
    "completion_id": 1, "invocation_id_completion_id": 1, "signal_id": 1, "journal_length": 1,
    "index": 0, "wake_up_time_ms": 0, "invoke_time_ms": 0, "resume_from": 0, "random_seed": 0,
    "retry_count": 0, "retry_duration_ms": 0, "code": 0, "related_command_index": 0,
    "next_retry_delay_ms": 0,
}
_TARGET_SHAPES = (
    frozenset({"invocation_id"}),
    frozenset({"workflow_name", "workflow_key"}),
    frozenset({"service", "handler", "idempotency_key"}),
    frozenset({"service", "key", "handler", "idempotency_key"}),
)


def _check_str(t: str, name: str, v: Any) -> None:
    if not isinstance(v, str):
        raise ProtocolViolation(f"{t}.{name} must be a string")


def _check_int(t: str, name: str, v: Any) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ProtocolViolation(f"{t}.{name} must be an integer")
    if v < _MINIMUM.get(name, 0) or (name == "code" and v > 65535):
        raise ProtocolViolation(f"{t}.{name} is out of range: {v}")


def _check_str_map(t: str, name: str, v: Any) -> None:
    if not (isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())):
        raise ProtocolViolation(f"{t}.{name} must be an object of strings")


def _check_target(t: str, name: str, v: Any) -> None:
    _check_str_map(t, name, v)
    if frozenset(v) not in _TARGET_SHAPES:
        raise ProtocolViolation(f"{t}.target has an unknown shape: {sorted(v)}")


def _check_state(t: str, name: str, v: Any) -> None:
    if not isinstance(v, Mapping):
        raise ProtocolViolation("start.state must be an object")
    for value in v.values():
        if not (isinstance(value, Mapping) and len(value) == 1 and ("value" in value or "value_bytes" in value)):
            raise ProtocolViolation("start.state values must be tagged payloads ({value} or {value_bytes})")


def _check_keys(t: str, name: str, v: Any) -> None:
    if len(set(v)) != len(v):
        raise ProtocolViolation("get_state_keys.keys must not repeat a key")


def _check_awakeable_id(t: str, name: str, v: Any) -> None:
    _check_str(t, name, v)
    if not v.startswith("awk_"):
        raise ProtocolViolation("awakeable_id must start with awk_")


def _check_command_type(t: str, name: str, v: Any) -> None:
    _check_str(t, name, v)
    if v not in COMMAND_TYPES:
        raise ProtocolViolation(f"related_command_type {v!r} is not a command type")


#: the type (and range, shape) check of each field name that has one
_FIELD_CHECKS: dict[str, Callable[[str, str, Any], None]] = {
    **{n: _check_str for n in _STR_FIELDS},
    **{n: _check_int for n in _INT_FIELDS},
    "headers": _check_str_map,
    "target": _check_target,
    "state": _check_state,
    "keys": _check_keys,
    "awakeable_id": _check_awakeable_id,
    "related_command_type": _check_command_type,
}


#: fields whose check is more than "a string" / "an integer within range"
_SPECIAL_CHECKS = {n: c for n, c in _FIELD_CHECKS.items() if c is not _check_str and c is not _check_int}


def _check_field_types(cls: type[Message], kwargs: dict[str, Any]) -> None:
    for name, v in kwargs.items():
        tv = type(v)
        if tv is str:
            if name in _STR_FIELDS and name not in _SPECIAL_CHECKS:
                continue  # the common case, checked inline
        elif tv is int:
            if name in _INT_FIELDS and v >= _MINIMUM.get(name, 0) and (v <= 65535 or name != "code"):
                continue
        elif v is None and name in _OPTIONAL:
            continue
        check = _FIELD_CHECKS.get(name)
        if check is not None:
            check(cls.TYPE, name, v)
