"""JSON Schema (2020-12) validation of wire messages and HTTP bodies (spec/schemas/).

Schema names are paths below ``spec/schemas`` without the ``.json`` suffix:
``"message"``, ``"messages/start"``, ``"discovery/manifest"``, ``"error"``,
``"ingress/send-response"``, ``"admin/invocation"``, ... (:func:`schema_names` lists them).

Usage::

    from durable.protocol.schemas import validate_message, validate_body, validate_frames

    validate_message({"type": "end"})                   # raises SchemaValidationError if invalid
    validate_body("ingress/send-response", answer_json)
    validate_frames(ndjson_body)                        # every line of an invoke request/response

Validators are built once per schema and cached; ``validate_message`` dispatches on the
``type`` field to the per-message schema (faster, and clearer errors, than ``message.json``'s
``oneOf``).

Where the schemas are found (first hit wins): ``$DURABLE_SPEC_DIR/schemas`` (or
``$DURABLE_SPEC_DIR`` itself if it holds ``message.json``); ``spec/schemas`` next to the
directory that contains the ``durable`` package (a source checkout or an editable install);
``<sys.prefix>/share/durable/spec/schemas`` (a data-files install).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SchemaValidationError",
    "is_valid_message",
    "iter_message_errors",
    "load_schema",
    "message_schema_name",
    "schema_dir",
    "schema_names",
    "validate_body",
    "validate_frames",
    "validate_message",
    "validator",
]


class SchemaValidationError(ValueError):
    """An object does not match its JSON Schema.

    ``schema`` is the schema name, ``errors`` the readable error lines (path: reason).
    """

    def __init__(self, schema: str, errors: list[str]) -> None:
        self.schema = schema
        self.errors = errors
        shown = "; ".join(errors[:5]) + (f"; (+{len(errors) - 5} more)" if len(errors) > 5 else "")
        super().__init__(f"does not match schema {schema!r}: {shown}")


def _candidates() -> Iterator[Path]:
    env = os.environ.get("DURABLE_SPEC_DIR")
    if env:
        p = Path(env)
        yield p if (p / "message.json").is_file() else p / "schemas"
    package_parent = Path(__file__).resolve().parent.parent.parent
    yield package_parent / "spec" / "schemas"
    yield Path(sys.prefix) / "share" / "durable" / "spec" / "schemas"


@cache
def schema_dir() -> Path:
    """The directory holding ``message.json`` and the other schemas."""
    tried: list[str] = []
    for p in _candidates():
        if (p / "message.json").is_file():
            return p
        tried.append(str(p))
    raise FileNotFoundError("spec/schemas not found; tried " + ", ".join(tried))


def _normalise(name: str) -> str:
    name = name.replace("\\", "/").strip("/")
    return name[: -len(".json")] if name.endswith(".json") else name


@cache
def schema_names() -> tuple[str, ...]:
    """Every schema name (relative path without ``.json``), sorted."""
    root = schema_dir()
    return tuple(sorted(_normalise(p.relative_to(root).as_posix()) for p in root.rglob("*.json")))


@cache
def _load(name: str) -> Mapping[str, Any]:
    path = schema_dir() / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"unknown schema {name!r} (see durable.protocol.schemas.schema_names())")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"schema {name!r} is not a JSON object")
    return data


def load_schema(name: str) -> dict[str, Any]:
    """A copy of the schema document named ``name`` (e.g. ``"messages/start"``)."""
    return json.loads(json.dumps(_load(_normalise(name))))  # type: ignore[no-any-return]


@cache
def _registry() -> Registry[Any]:
    resources = []
    for name in schema_names():
        doc = _load(name)
        uri = doc.get("$id")
        if isinstance(uri, str):
            resources.append((uri, Resource.from_contents(doc, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The cached validator of the schema named ``name``."""
    return Draft202012Validator(_load(_normalise(name)), registry=_registry())


def _format_error(err: Any) -> str:
    path = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
    return f"{path}: {err.message}"


def _errors(name: str, obj: object) -> list[str]:
    errs = sorted(validator(name).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    out: list[str] = []
    for e in errs:
        # oneOf/anyOf failures: show the most relevant nested reason too.
        if e.context:
            best = best_match(e.context)
            out.append(f"{_format_error(e)} ({_format_error(best)})")
        else:
            out.append(_format_error(e))
    return out


@cache
def _message_types() -> frozenset[str]:
    return frozenset(n.split("/", 1)[1] for n in schema_names() if n.startswith("messages/"))


def message_schema_name(obj: object) -> str:
    """``messages/<type>`` for a message object; raises SchemaValidationError if no such type."""
    if not isinstance(obj, Mapping):
        raise SchemaValidationError("message", [f"$: a message must be a JSON object, got {type(obj).__name__}"])
    t = obj.get("type")
    if not isinstance(t, str) or t not in _message_types():
        raise SchemaValidationError(
            "message", [f"$.type: unknown message type {t!r}; known: {', '.join(sorted(_message_types()))}"]
        )
    return f"messages/{t}"


def iter_message_errors(obj: object) -> list[str]:
    """Readable validation errors of a wire message (empty if valid)."""
    try:
        name = message_schema_name(obj)
    except SchemaValidationError as exc:
        return exc.errors
    return _errors(name, obj)


def validate_message(obj: object) -> None:
    """Raise :class:`SchemaValidationError` unless ``obj`` is a valid wire message (a dict)."""
    name = message_schema_name(obj)
    if not validator(name).is_valid(obj):
        raise SchemaValidationError(name, _errors(name, obj))


def is_valid_message(obj: object) -> bool:
    try:
        name = message_schema_name(obj)
    except SchemaValidationError:
        return False
    return bool(validator(name).is_valid(obj))


def validate_body(schema_name: str, obj: object) -> None:
    """Raise :class:`SchemaValidationError` unless ``obj`` matches ``schema_name``.

    ``schema_name`` is e.g. ``"error"``, ``"discovery/manifest"``, ``"ingress/send-response"``,
    ``"admin/invocation"`` (with or without ``.json``).
    """
    name = _normalise(schema_name)
    v = validator(name)
    if not v.is_valid(obj):
        raise SchemaValidationError(name, _errors(name, obj))


def validate_frames(body: bytes) -> list[dict[str, Any]]:
    """Validate every NDJSON line of an invoke request or response body; return the objects."""
    out: list[dict[str, Any]] = []
    for lineno, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SchemaValidationError("message", [f"line {lineno}: not JSON: {exc}"]) from exc
        try:
            validate_message(obj)
        except SchemaValidationError as exc:
            raise SchemaValidationError(exc.schema, [f"line {lineno}: {e}" for e in exc.errors]) from exc
        out.append(obj)
    return out
