"""The faster ``decode_message`` (plans computed once per class, inline type checks) accepts and
rejects exactly what the straightforward decoder it replaced did, on every message type and on
systematic mutations of valid messages (a field dropped, retyped or out of range; a key added)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import pytest

from durable.protocol import messages as m
from durable.protocol.errors import ProtocolViolation

# ---------------------------------------------------------------- the previous implementation


def _old_check_field_types(cls: type[m.Message], kwargs: dict[str, Any]) -> None:
    for name, v in kwargs.items():
        if v is None and name in m._OPTIONAL:
            continue
        if name in m._STR_FIELDS and not isinstance(v, str):
            raise ProtocolViolation(f"{cls.TYPE}.{name} must be a string")
        if name in m._INT_FIELDS:
            if not isinstance(v, int) or isinstance(v, bool):
                raise ProtocolViolation(f"{cls.TYPE}.{name} must be an integer")
            if v < m._MINIMUM.get(name, 0) or (name == "code" and v > 65535):
                raise ProtocolViolation(f"{cls.TYPE}.{name} is out of range: {v}")
        if name in ("headers", "target") and not (
            isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
        ):
            raise ProtocolViolation(f"{cls.TYPE}.{name} must be an object of strings")
        if name == "state" and not isinstance(v, Mapping):
            raise ProtocolViolation("start.state must be an object")
        if name == "target" and frozenset(v) not in m._TARGET_SHAPES:
            raise ProtocolViolation(f"{cls.TYPE}.target has an unknown shape: {sorted(v)}")
        if name == "keys" and len(set(v)) != len(v):
            raise ProtocolViolation("get_state_keys.keys must not repeat a key")
        if name == "awakeable_id" and not v.startswith("awk_"):
            raise ProtocolViolation("awakeable_id must start with awk_")
        if name == "related_command_type" and v not in m.COMMAND_TYPES:
            raise ProtocolViolation(f"related_command_type {v!r} is not a command type")
        if name == "state":
            for value in v.values():
                if not (isinstance(value, Mapping) and len(value) == 1 and ("value" in value or "value_bytes" in value)):
                    raise ProtocolViolation("start.state values must be tagged payloads ({value} or {value_bytes})")


def old_decode(obj: Any) -> m.Message:
    if not isinstance(obj, Mapping):
        raise ProtocolViolation("a message must be a JSON object")
    type_name = obj.get("type")
    cls = m.MESSAGE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ProtocolViolation(f"unknown message type {type_name!r}")
    kwargs: dict[str, Any] = {}
    names = {f.name for f in fields(cls)}
    for name in names:
        if name == "result":
            kwargs["result"] = m.result_from_json(obj, m._RESULT_ALLOWED.get(cls))
        elif name == "parameter":
            if "parameter" in obj:
                p = obj["parameter"]
                if not isinstance(p, Mapping):
                    raise ProtocolViolation("parameter must be an object")
                kwargs["parameter"] = m.result_from_json(p, m.PAYLOAD_TYPES)
        elif name == "awaiting":
            if "awaiting" not in obj:
                raise ProtocolViolation("suspension.awaiting is required")
            kwargs["awaiting"] = m.Future.from_json(obj["awaiting"])
        elif name in obj:
            v = obj[name]
            if name == "keys":
                if not isinstance(v, list) or not all(isinstance(k, str) for k in v):
                    raise ProtocolViolation("keys must be a list of strings")
                v = tuple(v)
            kwargs[name] = v
    extra = set(obj) - names - {"type", *m._RESULT_KEYS} if "result" in names else set(obj) - names - {"type"}
    if extra:
        raise ProtocolViolation(f"unknown field(s) {sorted(extra)} in {type_name}")
    missing = [f for f in m._REQUIRED.get(cls.TYPE, ()) if f not in obj]
    if missing:
        raise ProtocolViolation(f"{type_name} lacks required field(s) {missing}")
    _old_check_field_types(cls, kwargs)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolViolation(f"bad {type_name}: {exc}") from exc


# ---------------------------------------------------------------- corpus and mutations

TARGET = {"workflow_name": "W", "workflow_key": "k"}
VALID: list[dict[str, Any]] = [
    {"type": "input", "index": 0, "parameter": {"value": {"a": 1}}, "headers": {"h": "v"}},
    {"type": "output", "index": 5, "value": True},
    {"type": "output", "index": 5, "failure": {"code": 409, "message": "x", "metadata": {"a": "b"}}},
    {"type": "get_state", "index": 1, "key": "k", "void": True},
    {"type": "get_state_keys", "index": 1, "keys": ["a", "b"]},
    {"type": "set_state", "index": 1, "key": "k", "parameter": {"value_bytes": "AAE="}},
    {"type": "clear_state", "index": 1, "key": "k"},
    {"type": "clear_all_state", "index": 1},
    {"type": "sleep", "index": 1, "completion_id": 1, "wake_up_time_ms": 10, "name": "n"},
    {"type": "run", "index": 1, "completion_id": 1, "name": "create"},
    {"type": "call", "index": 1, "completion_id": 2, "invocation_id_completion_id": 1, "service": "s",
     "handler": "h", "key": "k", "parameter": {"void": True}, "headers": {"a": "b"}, "idempotency_key": "i",
     "name": "n"},
    {"type": "send", "index": 1, "invocation_id_completion_id": 1, "service": "s", "handler": "h",
     "parameter": {"value": None}, "invoke_time_ms": 5},
    {"type": "get_promise", "index": 1, "completion_id": 1, "key": "p"},
    {"type": "peek_promise", "index": 1, "completion_id": 1, "key": "p"},
    {"type": "complete_promise", "index": 1, "completion_id": 1, "key": "p", "value": 3},
    {"type": "complete_awakeable", "index": 1, "awakeable_id": "awk_1", "failure": {"code": 500, "message": "m"}},
    {"type": "send_signal", "index": 1, "target_invocation_id": "inv_1", "signal_id": 1, "void": True},
    {"type": "attach_invocation", "index": 1, "completion_id": 1, "target": TARGET},
    {"type": "get_invocation_output", "index": 1, "completion_id": 1, "target": {"invocation_id": "inv_1"}},
    {"type": "completion", "index": 2, "completion_id": 1, "value": True},
    {"type": "completion", "index": 2, "completion_id": 1, "invocation_id": "inv_2"},
    {"type": "signal", "index": 2, "signal_id": 17, "value": "x"},
    {"type": "start", "invocation_id": "inv_1", "service": "S", "handler": "h", "key": "k", "attempt_id": "a2",
     "journal_length": 3, "resume_from": 2, "resume_attempt_id": "a1", "random_seed": 7, "retry_count": 0,
     "retry_duration_ms": 0},
    {"type": "start", "invocation_id": "inv_1", "service": "S", "handler": "h", "attempt_id": "a1",
     "journal_length": 1, "resume_from": 0, "state": {"k": {"value": 1}}, "random_seed": 7, "retry_count": 1,
     "retry_duration_ms": 10},
    {"type": "propose_run_completion", "completion_id": 1, "value": True},
    {"type": "suspension", "awaiting": {"combinator": "first_completed", "completion_ids": [1], "signal_ids": [1]}},
    {"type": "error", "code": 500, "message": "m", "stacktrace": "s", "related_command_index": 1,
     "related_command_type": "run", "related_command_name": "n", "next_retry_delay_ms": 10},
    {"type": "end"},
    {"type": "resume_miss"},
]
BAD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 65536, 1.5, "", "x", "awk_y", "run", [], ["a"], ["a", "a"], {}, {"a": "b"},
    {"a": 1}, {"value": 1}, {"void": True}, {"invocation_id": "inv_x"}, TARGET,
]


def _mutations(obj: dict[str, Any]) -> list[Any]:
    out: list[Any] = [obj, {**obj, "unknown": 1}, {**obj, "value": 1}, {**obj, "void": True}]
    for k in obj:
        out.append({x: y for x, y in obj.items() if x != k})
        out.extend({**obj, k: bad} for bad in BAD_VALUES)
    return out


def _outcome(decode: Any, obj: Any) -> tuple[str, Any]:
    try:
        return "ok", decode(obj)
    except ProtocolViolation:
        return "rejected", None


def test_every_message_type_is_in_the_corpus() -> None:
    assert {o["type"] for o in VALID} == set(m.MESSAGE_TYPES)


@pytest.mark.parametrize("obj", VALID, ids=[f"{i}-{o['type']}" for i, o in enumerate(VALID)])
def test_new_decoder_agrees_with_the_old_one(obj: dict[str, Any]) -> None:
    assert _outcome(m.decode_message, obj)[0] == "ok"
    for mutated in _mutations(obj):
        assert _outcome(m.decode_message, mutated) == _outcome(old_decode, mutated), mutated


def test_nested_and_odd_inputs_agree() -> None:
    odd: list[Any] = [None, [], "end", {"type": 1}, {"type": "nope"}, {}]
    for obj in itertools.chain(odd, ({**o, "type": t} for o in VALID[:3] for t in ("run", "end", "start"))):
        assert _outcome(m.decode_message, obj) == _outcome(old_decode, obj), obj
