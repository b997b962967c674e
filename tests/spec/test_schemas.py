"""The JSON Schemas in spec/schemas/ and the validation helper (durable.protocol.schemas)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from durable.protocol import messages as m
from durable.protocol.framing import encode_frames
from durable.protocol.schemas import (
    SchemaValidationError,
    is_valid_message,
    load_schema,
    schema_dir,
    schema_names,
    validate_body,
    validate_frames,
    validate_message,
    validator,
)

from .strategies import STRATEGIES, messages


@pytest.mark.parametrize("name", schema_names())
def test_every_schema_is_valid_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.json")


def test_one_schema_per_message_type() -> None:
    names = {n.split("/", 1)[1] for n in schema_names() if n.startswith("messages/")}
    assert names == set(m.MESSAGE_TYPES)
    assert set(STRATEGIES) == set(m.MESSAGE_TYPES)
    union = load_schema("message")
    assert {r["$ref"] for r in union["oneOf"]} == {f"messages/{t}.json" for t in m.MESSAGE_TYPES}


@pytest.mark.parametrize("type_name", sorted(m.MESSAGE_TYPES))
def test_schema_properties_match_dataclass_fields(type_name: str) -> None:
    """Field by field: the schema names exactly the JSON keys messages.py emits or accepts."""
    cls = m.MESSAGE_TYPES[type_name]
    field_names = {f.name for f in dataclasses.fields(cls)}
    props = set(load_schema(f"messages/{type_name}")["properties"]) - {"type"}
    if "result" in field_names:
        result_keys = {"value", "value_bytes", "void", "failure", "invocation_id"}
        assert props & result_keys, type_name
        field_names.discard("result")
        props -= result_keys
    assert props == field_names


@settings(max_examples=400, deadline=None)
@given(messages)
def test_messages_round_trip_and_validate(msg: m.Message) -> None:
    obj = msg.to_json()
    validate_message(obj)
    assert m.decode_message(json.loads(json.dumps(obj))) == msg
    validator("message").validate(obj)  # the oneOf union agrees with the dispatching helper


@settings(max_examples=50, deadline=None)
@given(st.lists(messages, max_size=5))
def test_validate_frames(batch: list[m.Message]) -> None:
    objs = validate_frames(encode_frames(batch))
    assert [o["type"] for o in objs] == [x.TYPE for x in batch]


INVALID_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("not an object type", {"type": "nope"}),
    ("missing type", {"index": 0}),
    ("entry without index", {"type": "clear_all_state"}),
    ("negative index", {"type": "clear_all_state", "index": -1}),
    ("unknown field", {"type": "end", "extra": 1}),
    ("two results", {"type": "output", "index": 1, "value": 1, "void": True}),
    ("no result", {"type": "output", "index": 1}),
    ("void must be true", {"type": "output", "index": 1, "void": False}),
    ("bad base64", {"type": "output", "index": 1, "value_bytes": "***"}),
    ("failure on get_state", {"type": "get_state", "index": 1, "key": "k", "failure": {"code": 1, "message": ""}}),
    ("void set_state", {"type": "set_state", "index": 1, "key": "k", "parameter": {"void": True}}),
    ("completion id 0", {"type": "run", "index": 1, "completion_id": 0}),
    ("string completion id", {"type": "run", "index": 1, "completion_id": "1"}),
    ("failure code range", {"type": "output", "index": 1, "failure": {"code": 70000, "message": "x"}}),
    ("failure without message", {"type": "output", "index": 1, "failure": {"code": 500}}),
    ("empty suspension", {"type": "suspension", "awaiting": {"combinator": "first_completed"}}),
    ("empty nested await node", {"type": "suspension", "awaiting": {"combinator": "all_completed",
                                                                     "completion_ids": [1],
                                                                     "nested": [{"combinator": "first_completed"}]}}),
    ("bad combinator", {"type": "suspension", "awaiting": {"combinator": "any", "completion_ids": [1]}}),
    ("start without invocation id", {"type": "start", "service": "S", "handler": "h", "attempt_id": "a",
                                     "journal_length": 1, "resume_from": 0, "random_seed": 0,
                                     "retry_count": 0, "retry_duration_ms": 0}),
    ("start state value untagged", {"type": "start", "invocation_id": "inv_1", "service": "S", "handler": "h",
                                    "attempt_id": "a", "journal_length": 1, "resume_from": 0,
                                    "random_seed": 0, "retry_count": 0, "retry_duration_ms": 0,
                                    "state": {"k": 1}}),
    ("attach target mixed", {"type": "attach_invocation", "index": 1, "completion_id": 1,
                             "target": {"invocation_id": "inv_1", "workflow_name": "W"}}),
    ("invocation id result on output", {"type": "output", "index": 1, "invocation_id": "inv_1"}),
    ("bad awakeable id", {"type": "complete_awakeable", "index": 1, "awakeable_id": "prom_1", "value": 1}),
    ("unknown related type", {"type": "error", "code": 570, "message": "x", "related_command_type": "zzz"}),
    ("call without service", {"type": "call", "index": 1, "completion_id": 1,
                              "invocation_id_completion_id": 2, "handler": "h", "parameter": {"void": True}}),
]


@pytest.mark.parametrize(("why", "obj"), INVALID_MESSAGES, ids=[w for w, _ in INVALID_MESSAGES])
def test_invalid_messages_are_rejected(why: str, obj: dict[str, Any]) -> None:
    assert not is_valid_message(obj)
    with pytest.raises(SchemaValidationError) as info:
        validate_message(obj)
    assert str(info.value)
    assert not validator("message").is_valid(obj)


def test_validate_message_rejects_non_objects() -> None:
    bad: object
    for bad in (None, [], "end", 1):
        with pytest.raises(SchemaValidationError):
            validate_message(bad)


VALID_BODIES: list[tuple[str, Any]] = [
    ("error", {"code": 404, "message": "service 'X' not found"}),
    ("error", {"code": 570, "name": "JOURNAL_MISMATCH", "message": "x", "source": "invocation"}),
    ("ingress/send-response", {"invocationId": "inv_1abc", "status": "Accepted"}),
    ("ingress/send-response", {"invocationId": "inv_1abc", "status": "PreviouslyAccepted",
                               "executionTime": "2026-01-01T00:00:00Z"}),
    ("ingress/attach-request", {"target": "workflow", "workflowName": "SignupWorkflow", "workflowKey": "johndoe"}),
    ("ingress/attach-request", {"target": "invocation", "invocationId": "inv_1"}),
    ("ingress/attach-request", {"target": "idempotentInvocation", "service": "S", "handler": "h",
                                "idempotencyKey": "k"}),
    ("ingress/health-response", {"status": "ok"}),
    ("discovery/manifest", {
        "protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 1, "maxProtocolVersion": 1,
        "services": [{"name": "SignupWorkflow", "ty": "WORKFLOW", "retryPolicyMaxAttempts": 3,
                      "handlers": [{"name": "run", "ty": "WORKFLOW",
                                    "input": {"required": True, "contentType": "application/json",
                                              "jsonSchema": {"type": "object"}},
                                    "output": {"contentType": "application/json"},
                                    "retryPolicyInitialInterval": 100}]}]}),
    ("admin/deployment-request", {"uri": "http://127.0.0.1:9080"}),
    ("admin/deployment-response", {"id": "dp_1", "min_protocol_version": 1, "max_protocol_version": 1,
                                   "services": [{"name": "S", "ty": "Service", "deployment_id": "dp_1",
                                                 "revision": 1, "handlers": [{"name": "h"}]}]}),
    ("admin/deployment-list", {"deployments": []}),
    ("admin/service-list", {"services": []}),
    ("admin/invocation-list", {"invocations": [{"id": "inv_1", "target": "S/h", "service": "S", "handler": "h",
                                                "status": "completed", "created_at": "2026-01-01T00:00:00Z",
                                                "retry_count": 0, "output": {"value": 1}}]}),
    ("admin/invocation", {"id": "inv_1", "target": "S/h", "service": "S", "handler": "h", "status": "running",
                          "created_at": "2026-01-01T00:00:00Z", "retry_count": 2,
                          "journal": [{"index": 0, "kind": "command", "type": "input",
                                       "entry": {"type": "input", "index": 0, "parameter": {"void": True},
                                                 "headers": {}}},
                                      {"index": 1, "kind": "command", "type": "run", "name": "step",
                                       "completed": True, "result": {"value": 3},
                                       "entry": {"type": "run", "index": 1, "completion_id": 1,
                                                 "name": "step"}}]}),
    ("admin/cancel-response", {"invocation_id": "inv_1", "status": "cancel_requested"}),
    ("admin/kill-response", {"invocation_id": "inv_1", "status": "killed"}),
    ("admin/purge-response", {"invocation_id": "inv_1", "status": "purged"}),
    ("admin/state-response", {"service": "SignupWorkflow", "key": "k", "state": {"status": {"value": "done"}}}),
    ("admin/health-response", {"status": "ok"}),
]

INVALID_BODIES: list[tuple[str, Any]] = [
    ("error", {"message": "no code"}),
    ("ingress/send-response", {"invocationId": "inv_1", "status": "accepted"}),
    ("ingress/attach-request", {"target": "workflow", "workflowName": "W"}),
    ("discovery/manifest", {"minProtocolVersion": 1, "maxProtocolVersion": 1, "services": []}),
    ("discovery/manifest", {"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 1,
                            "maxProtocolVersion": 1,
                            "services": [{"name": "S", "ty": "ACTOR", "handlers": []}]}),
    ("admin/deployment-request", {"uri": "ftp://x"}),
    ("admin/invocation", {"id": "inv_1", "target": "S/h", "service": "S", "handler": "h", "status": "running",
                          "created_at": "2026-01-01T00:00:00Z", "retry_count": 0,
                          "journal": [{"index": 0, "kind": "command", "type": "input",
                                       "entry": {"type": "input"}}]}),
    ("admin/cancel-response", {"invocation_id": "inv_1", "status": "done"}),
    ("admin/state-response", {"service": "S", "key": "k", "state": {"a": 1}}),
]


@pytest.mark.parametrize(("name", "body"), VALID_BODIES)
def test_valid_bodies(name: str, body: Any) -> None:
    validate_body(name, body)


@pytest.mark.parametrize(("name", "body"), INVALID_BODIES)
def test_invalid_bodies(name: str, body: Any) -> None:
    with pytest.raises(SchemaValidationError):
        validate_body(name, body)


def test_unknown_schema_name() -> None:
    with pytest.raises(KeyError):
        validate_body("no/such", {})


def test_schema_dir_is_the_repo_spec() -> None:
    assert (schema_dir() / "message.json").is_file()
    validate_body("error.json", {"code": 1, "message": ""})


@pytest.mark.parametrize("type_name", sorted(m.MESSAGE_TYPES))
def test_message_defs_match_common(type_name: str) -> None:
    """Each self-contained message schema carries the same definitions as common.json."""
    common = load_schema("common")["$defs"]
    for name, definition in load_schema(f"messages/{type_name}").get("$defs", {}).items():
        assert definition == common[name], (type_name, name)


def test_schema_dir_env_override(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """DURABLE_SPEC_DIR (the spec/ dir or the schemas dir itself) wins over the repository copy."""
    import shutil

    from durable.protocol import schemas as mod

    target = tmp_path / "spec" / "schemas"
    shutil.copytree(schema_dir(), target)
    for env in (tmp_path / "spec", target):
        monkeypatch.setenv("DURABLE_SPEC_DIR", str(env))
        assert next(mod._candidates()) == target
