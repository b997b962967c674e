"""Readable expected-vs-actual reports for journal mismatches (non-determinism).

A developer who changed their workflow code should see at a glance which step diverged and how,
so the report names the command index, both command types and every differing field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from durable.protocol.errors import JournalMismatch
from durable.protocol.messages import Command


def comparable(cmd: Command) -> dict[str, Any]:
    """The command as JSON, without its index and with empty mappings normalised away."""
    out = cmd.to_json()
    out.pop("index", None)
    for k in [k for k, v in out.items() if isinstance(v, Mapping) and not v and k != "parameter"]:
        del out[k]
    return out


def determinism_view(cmd: Command) -> dict[str, Any]:
    full = comparable(cmd)
    keep = set(type(cmd).DETERMINISM_FIELDS)
    result_keys = {"value", "value_bytes", "void", "failure", "invocation_id"}
    view: dict[str, Any] = {"type": full["type"]}
    for k, v in full.items():
        if k in keep or ("result" in keep and k in result_keys):
            view[k] = v
    return view


def _fmt(v: Any) -> str:
    return orjson.dumps(v).decode()


def mismatch(index: int, expected: Command | None, actual: Command | None, reason: str = "") -> JournalMismatch:
    exp = comparable(expected) if expected is not None else None
    act = comparable(actual) if actual is not None else None
    lines = [f"Journal mismatch at command index {index} (non-deterministic handler code?)"]
    if reason:
        lines.append(reason)
    if exp is not None and act is not None and exp["type"] != act["type"]:
        lines.append(f"  command type: expected {exp['type']!r}, actual {act['type']!r}")
    elif exp is not None and act is not None:
        ev, av = determinism_view(expected), determinism_view(actual)  # type: ignore[arg-type]
        for k in sorted(set(ev) | set(av)):
            if ev.get(k) != av.get(k):
                lines.append(f"  field {k}: expected {_fmt(ev.get(k))}, actual {_fmt(av.get(k))}")
    lines.append(f"  expected: {_fmt(exp) if exp is not None else '(no more commands in the journal)'}")
    lines.append(f"  actual:   {_fmt(act) if act is not None else '(the handler produced no such command)'}")
    return JournalMismatch("\n".join(lines), command_index=index, expected=exp, actual=act)
