"""Opt-in wire audit: validate every received message against the JSON Schemas.

Set ``DURABLE_WIRE_AUDIT=<dir>`` in the environment of a server or SDK process. Every NDJSON
body that process decodes (the server decodes what SDKs send, SDKs decode what the server
sends, so between them every message exchanged is seen once) is validated with
:mod:`durable.protocol.schemas`, and a line ``{"pid", "types": {type: n}, "violations": [...]}``
is appended to ``<dir>/wire-<pid>.jsonl``. End-to-end tests read these files back with
:func:`summarise` and fail on any violation (or on having checked nothing).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

ENV = "DURABLE_WIRE_AUDIT"


def audit_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def record(objects: Sequence[Any], directory: Path) -> None:
    from .schemas import iter_message_errors

    types: Counter[str] = Counter()
    violations: list[dict[str, Any]] = []
    for obj in objects:
        kind = obj.get("type") if isinstance(obj, dict) else None
        types[str(kind)] += 1
        errors = list(iter_message_errors(obj))
        if errors:
            violations.append({"message": obj, "errors": errors})
    line = orjson.dumps({"pid": os.getpid(), "types": dict(types), "violations": violations})
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"wire-{os.getpid()}.jsonl", "ab") as f:
        f.write(line + b"\n")


def summarise(directory: Path) -> tuple[Counter[str], list[dict[str, Any]]]:
    """All message types checked and all violations recorded under ``directory``."""
    types: Counter[str] = Counter()
    violations: list[dict[str, Any]] = []
    for path in sorted(directory.glob("wire-*.jsonl")):
        for raw in path.read_bytes().splitlines():
            entry = orjson.loads(raw)
            types.update(entry["types"])
            violations.extend(entry["violations"])
    return types, violations
