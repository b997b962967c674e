"""The shared message layer agrees with the JSON Schemas on what is required and allowed."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from durable.protocol import ProtocolViolation
from durable.protocol.framing import MAX_LINE_BYTES, FrameDecoder
from durable.protocol.messages import _REQUIRED, MESSAGE_TYPES, Failure, decode_message

SCHEMAS = Path(__file__).resolve().parents[2] / "spec" / "schemas" / "messages"
RESULT_KEYS = {"value", "value_bytes", "void", "failure", "invocation_id"}


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_required_fields_match_the_schema(type_name: str) -> None:
    schema = json.loads((SCHEMAS / f"{type_name}.json").read_text())
    expected = set(schema["required"]) - {"type"}
    if "result" in {f.name for f in fields(MESSAGE_TYPES[type_name])}:
        expected -= RESULT_KEYS
    assert set(_REQUIRED[type_name]) == expected


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "run", "index": 1},
        {"type": "run", "index": 1, "completion_id": 0},
        {"type": "call", "index": 1, "completion_id": 2, "invocation_id_completion_id": 1, "handler": "h",
         "parameter": {"void": True}},
        {"type": "signal", "index": 2, "signal_id": -1, "void": True},
        {"type": "suspension", "awaiting": {"completion_ids": [1], "bogus": 1}},
        {"type": "suspension", "awaiting": {"completion_ids": [1], "nested": [{}]}},
        {"type": "suspension", "awaiting": {"completion_ids": [0]}},
        {"type": "completion", "index": 3, "completion_id": 1, "failure": {"code": 500, "message": "x", "extra": 1}},
        {"type": "completion", "index": 3, "completion_id": 1, "failure": {"code": 500, "message": "x", "metadata": {"a": 1}}},
        {"type": "error", "code": 70000, "message": "x"},
        {"type": "error", "code": 500, "message": "x", "related_command_type": "nope"},
        {"type": "get_state_keys", "index": 1, "keys": ["a", "a"]},
        {"type": "attach_invocation", "index": 1, "completion_id": 1, "target": {"foo": "bar"}},
        {"type": "attach_invocation", "index": 1, "completion_id": 1, "target": 7},
        {"type": "complete_awakeable", "index": 1, "awakeable_id": "prom_x", "value": 1},
        {"type": "start", "invocation_id": "inv_1", "service": "s", "handler": "h", "attempt_id": "a",
         "journal_length": 1, "resume_from": 0, "random_seed": 0, "retry_count": 0, "retry_duration_ms": 0,
         "state": {"k": 1}},
    ],
)
def test_invalid_messages_are_rejected(obj: dict[str, object]) -> None:
    with pytest.raises(ProtocolViolation):
        decode_message(obj)


def test_empty_failure_metadata_round_trips() -> None:
    f = Failure(500, "x", {})
    assert f == Failure(500, "x")


def test_frame_decoder_rejects_an_oversized_line_in_one_chunk() -> None:
    with pytest.raises(ProtocolViolation):
        FrameDecoder().feed(b" " * (MAX_LINE_BYTES + 1) + b"\n")
