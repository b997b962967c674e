"""Journal entries as the core handles them: results, notifications, await trees, targets,
and the whole-response check that runs before anything of a response is used.

Entries travel as their wire JSON (dicts), which is also how the store keeps them; these
helpers build and inspect them so that the engine reads as decisions, not as dict plumbing.
"""

from __future__ import annotations

from typing import Any

from durable.protocol import (
    CANCEL_SIGNAL_ID,
    ClearAllStateCommand,
    ClearStateCommand,
    Command,
    EndMessage,
    InputCommand,
    Message,
    OutputCommand,
    ProposeRunCompletionMessage,
    ResumeMissMessage,
    RunCommand,
    SetStateCommand,
    SleepCommand,
)
from durable.protocol.messages import TERMINATORS, result_to_json

from .. import ids
from .model import Inv

Json = Any

KILLED = {"failure": {"code": 409, "message": "killed"}}
CANCELLED = {"failure": {"code": 409, "message": "cancelled"}}
VOID: dict[str, Json] = {"void": True}


def failure(code: int, message: str) -> dict[str, Json]:
    return {"failure": {"code": code, "message": message}}


def result_of(message: Message) -> dict[str, Json]:
    out: dict[str, Json] = {}
    result_to_json(message.result, out)  # type: ignore[attr-defined]
    return out


def completion(completion_id: int, result: dict[str, Json]) -> dict[str, Json]:
    return {"type": "completion", "completion_id": completion_id, **result}


def signal(signal_id: int, result: dict[str, Json]) -> dict[str, Json]:
    return {"type": "signal", "signal_id": signal_id, **result}


def wakes(awaiting: Json, notification: dict[str, Json]) -> bool:
    """Whether a notification may let a handler waiting on ``awaiting`` continue."""
    if notification.get("type") == "signal" and notification.get("signal_id") == CANCEL_SIGNAL_ID:
        return True
    if not isinstance(awaiting, dict):
        return True
    key = "completion_ids" if notification.get("type") == "completion" else "signal_ids"
    ident = notification.get("completion_id" if key == "completion_ids" else "signal_id")
    stack = [awaiting]
    while stack:
        node = stack.pop()
        if ident in node.get(key, ()):
            return True
        stack.extend(node.get("nested", ()))
    return False


def target_id(target: dict[str, str]) -> str | None:
    """The invocation id an attach/output target names (None if the target is malformed)."""
    if "invocation_id" in target:
        return target["invocation_id"]
    if "workflow_name" in target and "workflow_key" in target:
        return ids.workflow_invocation_id(target["workflow_name"], target["workflow_key"])
    if {"service", "handler", "idempotency_key"} <= set(target):
        return ids.idempotent_invocation_id(
            target["service"], target.get("key"), target["handler"], target["idempotency_key"]
        )
    return None


def validate_response(inv: Inv, msgs: list[Message]) -> str | None:
    """Check a whole response before anything of it is used (spec WIRE-RESP-8)."""
    if not msgs:
        return "empty response: expected a terminator (end, suspension, error or resume_miss)"
    if not isinstance(msgs[-1], TERMINATORS):
        return f"the response does not end with a terminator (last: {msgs[-1].TYPE})"
    if isinstance(msgs[-1], ResumeMissMessage) and len(msgs) > 1:
        return "resume_miss must be the only message of its response"
    expected = inv.journal_length
    has_output = inv.output is not None
    used = set(inv.cids)
    runs = set(inv.open_runs)
    for m in msgs[:-1]:
        if isinstance(m, TERMINATORS):
            return f"more than one terminator ({m.TYPE} before the end)"
        if isinstance(m, Command):
            if isinstance(m, InputCommand):
                return "the SDK must not send an input command"
            if m.index != expected:
                return f"{m.TYPE} has index {m.index}, expected {expected}"
            if has_output:
                return f"{m.TYPE} after the output command"
            expected += 1
            if isinstance(m, SetStateCommand | ClearStateCommand | ClearAllStateCommand) and (
                inv.key is None or not inv.exclusive
            ):
                return f"{m.TYPE} is not allowed in a {inv.handler_ty} handler of a {inv.svc_ty}"
            cids = [c for c in m.completion_ids() if c != 0 or isinstance(m, RunCommand | SleepCommand)]
            if len(set(cids)) != len(cids):
                return f"{m.TYPE} at {m.index} uses the same completion id twice"
            for c in cids:
                if c < 1:
                    return f"{m.TYPE} at {m.index}: completion ids start at 1"
                if c in used:
                    return f"{m.TYPE} at {m.index} reuses completion id {c}"
                used.add(c)
            if isinstance(m, RunCommand):
                runs.add(m.completion_id)
            has_output = has_output or isinstance(m, OutputCommand)
        elif isinstance(m, ProposeRunCompletionMessage):
            if m.completion_id not in runs and m.completion_id not in inv.cids:
                return f"propose_run_completion for {m.completion_id}, which is not a run"
        else:
            return f"unexpected {m.TYPE} in a response"
    if isinstance(msgs[-1], EndMessage) and not has_output:
        return "end without an output command"
    return None
