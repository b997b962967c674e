"""Serialisation driven by type hints: pydantic models, dataclasses, JSON-able values, bytes.

The wire carries tagged payloads (``Value`` / ``RawValue`` / ``Void``) rather than bytes, so the
default serde converts straight between Python objects and JSON values with a pydantic
``TypeAdapter`` built from the hint. A custom :class:`Serde` (restate-style, bytes in and out)
is also accepted: its bytes travel as a JSON value when they parse as JSON, raw otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import typing
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
import pydantic

from durable.protocol.messages import VOID, Failure, Payload, RawValue, Result, Value, Void

from .exceptions import TerminalError

T = TypeVar("T")


class Serde(Generic[T]):
    """restate-style serde: objects to bytes and back."""

    def serialize(self, obj: T | None) -> bytes:
        raise NotImplementedError

    def deserialize(self, buf: bytes) -> T | None:
        raise NotImplementedError


class DefaultSerde(Serde[T]):
    """Chooses pydantic / dataclass / JSON / bytes handling from a type hint (or the value)."""

    def __init__(self, type_hint: Any = None) -> None:
        self.type_hint = type_hint

    def with_hint(self, type_hint: Any) -> DefaultSerde[T]:
        return self if self.type_hint is not None or type_hint is None else DefaultSerde(type_hint)

    def serialize(self, obj: T | None) -> bytes:
        p = to_payload(obj, self.type_hint)
        if isinstance(p, Value):
            return orjson.dumps(p.value)
        return p.data if isinstance(p, RawValue) else b""

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        value: T | None = from_payload(RawValue(buf) if self.type_hint is bytes else Value(orjson.loads(buf)), self.type_hint)
        return value


class BytesSerde(Serde[bytes]):
    """Raw bytes in and out."""

    def serialize(self, obj: bytes | None) -> bytes:
        return b"" if obj is None else bytes(obj)

    def deserialize(self, buf: bytes) -> bytes | None:
        return buf


class JsonSerde(Serde[T]):
    """Plain JSON (no type conversion)."""

    def serialize(self, obj: T | None) -> bytes:
        return b"" if obj is None else orjson.dumps(obj)

    def deserialize(self, buf: bytes) -> T | None:
        value: T | None = orjson.loads(buf) if buf else None
        return value


class PydanticJsonSerde(Serde[T]):
    """A pydantic model (by alias)."""

    def __init__(self, model: type[T]) -> None:
        self.model = model

    def serialize(self, obj: T | None) -> bytes:
        return b"" if obj is None else adapter(self.model).dump_json(obj, by_alias=True)

    def deserialize(self, buf: bytes) -> T | None:
        value: T | None = adapter(self.model).validate_json(buf) if buf else None
        return value


@functools.lru_cache(maxsize=512)
def _adapter_cached(hint: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(hint)


def adapter(hint: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return _adapter_cached(hint)
    except TypeError:  # unhashable hint
        return pydantic.TypeAdapter(hint)


def _is_none_hint(hint: Any) -> bool:
    return hint is type(None)


#: hints whose values are their own JSON form: a value of exactly that type (not a subclass such
#: as an enum or ``bool`` for ``int``) needs no pydantic round trip either way. ``float`` is
#: only in the decoding set: pydantic dumps a non-finite float as ``null``.
_SCALAR_OUT = frozenset({bool, int, str})
_SCALAR_IN = frozenset({bool, int, str, float})
_JSON_SCALARS = (str, int, float, bool, type(None))


def to_jsonable(obj: Any) -> Any:
    if type(obj) in _JSON_SCALARS:
        return obj
    if isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return adapter(type(obj)).dump_python(obj, mode="json", by_alias=True)
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    try:
        return adapter(type(obj)).dump_python(obj, mode="json", by_alias=True)
    except Exception as exc:
        raise TypeError(f"cannot serialise a {type(obj).__name__} as JSON: {exc}") from exc


def to_payload(obj: Any, hint: Any = None, serde: Serde[Any] | None = None) -> Value | RawValue | Void:
    """A Python object as a wire payload (``None`` becomes void)."""
    if serde is not None and not isinstance(serde, DefaultSerde):
        buf = serde.serialize(obj)
        if not buf:
            return VOID
        if isinstance(serde, BytesSerde):
            return RawValue(buf)
        try:
            return Value(orjson.loads(buf))
        except orjson.JSONDecodeError:
            return RawValue(buf)
    if isinstance(serde, DefaultSerde) and hint is None:
        hint = serde.type_hint
    if obj is None:
        return VOID
    if isinstance(obj, bytes | bytearray) and (hint is None or hint is bytes):
        return RawValue(bytes(obj))
    if hint is None or hint is Any or _is_none_hint(hint):
        return Value(to_jsonable(obj))
    if type(obj) is hint and hint in _SCALAR_OUT:
        return Value(obj)
    try:
        return Value(adapter(hint).dump_python(obj, mode="json", by_alias=True))
    except Exception:
        return Value(to_jsonable(obj))


def from_payload(payload: Result, hint: Any = None, serde: Serde[Any] | None = None) -> Any:
    """A wire payload as a Python object; a failure raises :class:`TerminalError`."""
    if isinstance(payload, Failure):
        raise TerminalError(payload.message, payload.code, payload.metadata)
    if serde is not None and not isinstance(serde, DefaultSerde):
        if isinstance(payload, Void):
            return serde.deserialize(b"")
        if isinstance(payload, RawValue):
            return serde.deserialize(payload.data)
        if isinstance(payload, Value):
            return serde.deserialize(orjson.dumps(payload.value))
    if isinstance(serde, DefaultSerde) and hint is None:
        hint = serde.type_hint
    if isinstance(payload, Void):
        return None
    if isinstance(payload, RawValue):
        if hint is None or hint is bytes or hint is Any:
            return payload.data
        return adapter(hint).validate_json(payload.data)
    if not isinstance(payload, Value):
        raise TerminalError(f"unexpected result {payload!r}")
    if hint is None or hint is Any or _is_none_hint(hint):
        return payload.value
    if type(payload.value) is hint and hint in _SCALAR_IN:
        return payload.value
    if hint is bytes:
        return orjson.dumps(payload.value)
    return adapter(hint).validate_python(payload.value)


def input_payload_to_object(payload: Payload, hint: Any, serde: Serde[Any] | None) -> Any:
    try:
        if isinstance(payload, Void) and serde is None and hint is not None and hint is not Any:
            return adapter(hint).validate_python(None)
        return from_payload(payload, hint, serde)
    except pydantic.ValidationError as exc:
        raise TerminalError(f"invalid input: {exc}", 400) from exc
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise TerminalError(f"invalid input: {exc}", 400) from exc


def json_schema(hint: Any) -> dict[str, Any] | None:
    if hint is None or hint is Any or _is_none_hint(hint) or hint is bytes:
        return None
    try:
        return adapter(hint).json_schema()
    except Exception:
        return None


#: return hints per function object (weakly held: closures made per call do not pile up), with
#: the ``__annotations__`` object they were computed from, so reassigned annotations are seen
_RETURN_HINTS: weakref.WeakKeyDictionary[Any, tuple[object, Any]] = weakref.WeakKeyDictionary()


def return_hint(fn: Callable[..., Any]) -> Any:
    """The return type hint of ``fn`` (unwrapping ``Awaitable``/``Coroutine``), or None.

    ``typing.get_type_hints`` evaluates string annotations on every call (tens of microseconds),
    and ``ctx.run`` asks for the hint of its action every time, so the answer is cached per
    function object (a bound method under its function)."""
    key: Any = getattr(fn, "__func__", fn)
    annotations = getattr(key, "__annotations__", None)
    try:
        cached = _RETURN_HINTS.get(key)
    except TypeError:  # not weakly referenceable (or unhashable): compute every time
        return _compute_return_hint(fn)
    if cached is not None and cached[0] is annotations:
        return cached[1]
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: not cached, a later call may resolve them
        return None
    hint = _unwrap_return(hints.get("return"))
    with contextlib.suppress(TypeError):
        _RETURN_HINTS[key] = (annotations, hint)
    return hint


def _compute_return_hint(fn: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None
    return _unwrap_return(hints.get("return"))


def _unwrap_return(hint: Any) -> Any:
    if hint is None:
        return None
    origin = typing.get_origin(hint)
    if origin is not None and inspect.isclass(origin) and origin.__name__ in ("Coroutine", "Awaitable"):
        args = typing.get_args(hint)
        return args[-1] if args else None
    return hint


__all__ = [
    "BytesSerde",
    "DefaultSerde",
    "JsonSerde",
    "PydanticJsonSerde",
    "Serde",
    "from_payload",
    "input_payload_to_object",
    "json_schema",
    "return_hint",
    "to_jsonable",
    "to_payload",
]
