"""The caches and fast paths added for CPU per workflow give the same answers as the slow paths."""

from __future__ import annotations

import enum
import gc
import weakref
from collections.abc import Awaitable
from typing import Any

import pytest
from pydantic import BaseModel

from durable.protocol.messages import (
    MESSAGE_TYPES,
    RunCommand,
    Value,
    decode_message,
    field_names,
)
from reference_sdk import serde
from reference_sdk.serde import from_payload, return_hint, to_payload


def _make(hint: Any) -> Any:
    """Closures from one ``def``: the same code object, different return annotations."""

    def fn() -> None:
        return None

    fn.__annotations__ = {"return": hint}
    return fn


def test_functions_with_different_hints_do_not_share_an_entry() -> None:
    a, b = _make(int), _make(str)
    assert a.__code__ is b.__code__
    assert return_hint(a) is int
    assert return_hint(b) is str
    assert return_hint(a) is int  # cached answer is a's own


def test_reassigned_annotations_are_seen() -> None:
    f = _make(int)
    assert return_hint(f) is int
    f.__annotations__ = {"return": bytes}
    assert return_hint(f) is bytes


def test_bound_methods_share_their_function_entry() -> None:
    class A:
        def m(self) -> int:
            return 1

    a1, a2 = A(), A()
    assert return_hint(a1.m) is int
    assert return_hint(a2.m) is int


def test_coroutine_return_is_unwrapped_and_cached() -> None:
    async def f() -> int:
        return 1

    def g() -> Awaitable[str]:
        raise NotImplementedError

    assert return_hint(f) is int
    assert return_hint(f) is int
    assert return_hint(g) is str


def test_the_cache_does_not_keep_functions_alive() -> None:
    f = _make(int)
    assert return_hint(f) is int
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None


def test_unresolvable_annotations_are_not_cached() -> None:
    def f() -> NotDefinedYet:  # type: ignore[name-defined]  # noqa: F821
        raise NotImplementedError

    assert return_hint(f) is None
    assert f not in serde._RETURN_HINTS
    globals()["NotDefinedYet"] = float
    try:
        assert return_hint(f) is float
    finally:
        del globals()["NotDefinedYet"]


def test_callables_that_cannot_be_weakly_referenced_still_work() -> None:
    assert return_hint(len) is None
    assert return_hint(print) is None


class Colour(enum.StrEnum):
    RED = "red"


class Flag(enum.IntEnum):
    ON = 1


class M(BaseModel):
    x: int


@pytest.mark.parametrize(
    ("obj", "hint"),
    [
        (True, bool), (3, int), ("s", str), (True, int), (Colour.RED, str), (Colour.RED, Colour),
        (Flag.ON, int), (1.5, float), (float("inf"), float), (M(x=1), M), (3, float),
    ],
)
def test_scalar_fast_paths_match_pydantic(obj: Any, hint: Any) -> None:
    """Encoding with a hint gives pydantic's JSON form; decoding gives pydantic's object."""
    expected = Value(serde.adapter(hint).dump_python(obj, mode="json", by_alias=True))
    got = to_payload(obj, hint)
    assert got == expected
    assert isinstance(got, Value) and type(got.value) is type(expected.value)
    back = from_payload(expected, hint)
    want = serde.adapter(hint).validate_python(expected.value)
    assert back == want and type(back) is type(want)


@pytest.mark.parametrize("obj", [7, "x", 1.5, True, Colour.RED, Flag.ON])
def test_unhinted_scalars_are_their_own_json(obj: Any) -> None:
    got = to_payload(obj)
    assert isinstance(got, Value) and got.value is obj


@pytest.mark.parametrize(("value", "hint"), [(1, float), (1, bool), ("1", int), (True, int), (1.0, int)])
def test_decoding_converts_or_rejects_as_pydantic_does(value: Any, hint: Any) -> None:
    try:
        expected = serde.adapter(hint).validate_python(value)
    except Exception as exc:
        with pytest.raises(type(exc)):
            from_payload(Value(value), hint)
        return
    got = from_payload(Value(value), hint)
    assert got == expected and type(got) is type(expected)


def test_field_names_follow_declaration_order() -> None:
    for cls in MESSAGE_TYPES.values():
        assert field_names(cls) == tuple(f for f in cls.__dataclass_fields__ if not f.isupper())


def test_run_command_round_trip() -> None:
    cmd = RunCommand(3, completion_id=2, name="x")
    assert decode_message(cmd.to_json()) == cmd
