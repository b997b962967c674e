"""The handler context: what user code may do durably (restate-sdk 1.2.0 names and signatures).

``Context`` serves plain services; ``ObjectSharedContext``/``ObjectContext`` add keyed state
(read-only / read-write); ``WorkflowSharedContext``/``WorkflowContext`` add durable promises.
Every method turns into a journal command through the session's pure machine, so the same
handler code gives the same journal on every replay.
"""

from __future__ import annotations

import random as _random
import time as _time
import uuid as _uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, overload

import orjson

from durable.protocol.messages import (
    CANCEL_SIGNAL_ID,
    Failure,
    Payload,
    RawValue,
    Result,
    Value,
    Void,
)

from ._core.ids import decode_awakeable_id
from ._shell import Session
from .exceptions import TerminalError
from .futures import CallFuture, DurableFuture, ReadyFuture, SendHandle, SleepFuture
from .options import Request, RunOptions
from .promise import DurablePromise, make_promise
from .serde import DefaultSerde, Serde, from_payload, return_hint, to_payload
from .service import HandlerSpec, handler_spec

T = TypeVar("T")
P = ParamSpec("P")
I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


#: ``run_typed`` without options (the common case) shares one options record and its policy
_DEFAULT_RUN_OPTIONS: RunOptions[Any] = RunOptions()
_DEFAULT_POLICY = _DEFAULT_RUN_OPTIONS.policy()


def _payload_bytes(p: Result) -> bytes:
    if isinstance(p, Value):
        return orjson.dumps(p.value)
    if isinstance(p, RawValue):
        return p.data
    return b""


def _bytes_payload(arg: bytes | None) -> Payload:
    if not arg:
        return Void()
    try:
        return Value(orjson.loads(arg))
    except orjson.JSONDecodeError:
        return RawValue(bytes(arg))


def _failure_or_none(r: Result) -> None:
    if isinstance(r, Failure):
        raise TerminalError(r.message, r.code, r.metadata)


def sleep_future(session: Session, delta: timedelta, name: str | None) -> SleepFuture:
    wake = session.clock_ms() + max(0, int(delta.total_seconds() * 1000))
    _cmd, leaf = session.guard(lambda: session.machine.sleep(wake, name))
    return SleepFuture(session, leaf, _failure_or_none)


class Context:
    """Durable operations available to every handler."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._random: _random.Random | None = None

    # ------------------------------------------------------------------ not allowed here

    def _denied(self, what: str) -> TerminalError:
        spec = self._session.spec
        kind = {"service": "a service", "object": "a virtual object", "workflow": "a workflow"}[spec.service_kind]
        return TerminalError(f"{what} is not allowed in handler {spec.service_name}/{spec.name} of {kind}")

    def get(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> Awaitable[T | None]:
        raise self._denied("state access")

    def state_keys(self) -> Awaitable[list[str]]:
        raise self._denied("state access")

    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde()) -> None:  # noqa: B008
        raise self._denied("writing state")

    def clear(self, name: str) -> None:
        raise self._denied("writing state")

    def clear_all(self) -> None:
        raise self._denied("writing state")

    def promise(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> DurablePromise[T]:
        raise self._denied("a durable promise")

    # ------------------------------------------------------------------ request and determinism

    def request(self) -> Request:
        inp = self._session.machine.input
        return Request(id=self._session.machine.invocation_id, headers=dict(inp.headers), body=_payload_bytes(inp.parameter))

    def random(self) -> _random.Random:
        """A random generator seeded by the invocation (same numbers on every replay)."""
        if self._random is None:
            self._random = _random.Random(self._session.machine.start.random_seed)
        return self._random

    def uuid(self) -> _uuid.UUID:
        return _uuid.UUID(int=self.random().getrandbits(128), version=4)

    def time(self) -> DurableFuture[float]:
        """``time.time()``, recorded once in the journal (stable across replays)."""

        async def now() -> float:
            return _time.time()

        return self.run_typed("time", now, RunOptions(type_hint=float))

    # ------------------------------------------------------------------ side effects

    def run(
        self,
        name: str,
        action: Callable[..., Any],
        serde: Serde[T] = DefaultSerde(),  # noqa: B008
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> DurableFuture[T]:
        options: RunOptions[T] = RunOptions(
            serde=serde, type_hint=type_hint, max_attempts=max_attempts, max_duration=max_retry_duration
        )
        return self._run(name, action, options, tuple(args or ()), {})

    @overload
    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]],
        options: RunOptions[T] | None = None,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> DurableFuture[T]: ...

    @overload
    def run_typed(
        self,
        name: str,
        action: Callable[P, T],
        options: RunOptions[T] | None = None,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> DurableFuture[T]: ...

    def run_typed(
        self,
        name: str,
        action: Callable[..., Any],
        options: RunOptions[Any] | None = None,
        /,
        *args: Any,
        **kwargs: Any,
    ) -> DurableFuture[Any]:
        """Run ``action(*args, **kwargs)`` once, durably; its result is recorded in the journal."""
        return self._run(name, action, options or _DEFAULT_RUN_OPTIONS, args, kwargs)

    def _run(
        self,
        name: str,
        action: Callable[..., Any],
        options: RunOptions[T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> DurableFuture[T]:
        s = self._session
        hint = options.type_hint if options.type_hint is not None else return_hint(action)
        serde: Serde[Any] | None = options.serde
        if isinstance(serde, DefaultSerde) and serde.type_hint is None:
            serde = None
        leaf, execute = s.guard(lambda: s.machine.run(name))
        if execute:
            policy = _DEFAULT_POLICY if options is _DEFAULT_RUN_OPTIONS else options.policy()
            s.start_run(leaf, name, action, args, kwargs, hint, serde, policy)
        return DurableFuture(s, leaf, lambda r: from_payload(r, hint, serde))

    def sleep(self, delta: timedelta, name: str | None = None) -> SleepFuture:
        return sleep_future(self._session, delta, name)

    # ------------------------------------------------------------------ calls and sends

    def _call(
        self,
        tpe: Any,
        key: str | None,
        arg: Any,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> CallFuture[Any]:
        spec: HandlerSpec = handler_spec(tpe)
        param = to_payload(arg, spec.input_hint, spec.input_serde) if spec.has_input else Void()
        s = self._session
        h = s.guard(
            lambda: s.machine.call(
                spec.service_name, spec.name, param, key=key, headers=headers, idempotency_key=idempotency_key
            )
        )
        return CallFuture(s, h.invocation_id, h.result, lambda r: from_payload(r, spec.output_hint, spec.output_serde))

    def _send(
        self,
        tpe: Any,
        key: str | None,
        arg: Any,
        send_delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> SendHandle:
        spec: HandlerSpec = handler_spec(tpe)
        param = to_payload(arg, spec.input_hint, spec.input_serde) if spec.has_input else Void()
        return self._send_raw(spec.service_name, spec.name, key, param, send_delay, idempotency_key, headers)

    def _send_raw(
        self,
        service: str,
        handler: str,
        key: str | None,
        param: Payload,
        send_delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> SendHandle:
        s = self._session
        invoke_at = None if send_delay is None else s.clock_ms() + max(0, int(send_delay.total_seconds() * 1000))
        leaf = s.guard(
            lambda: s.machine.send(
                service,
                handler,
                param,
                key=key,
                headers=headers,
                idempotency_key=idempotency_key,
                invoke_time_ms=invoke_at,
            )
        )
        return SendHandle(s, leaf)

    def service_call(
        self, tpe: Callable[..., Any], arg: Any = None, idempotency_key: str | None = None, headers: dict[str, str] | None = None
    ) -> CallFuture[Any]:
        return self._call(tpe, None, arg, idempotency_key, headers)

    def object_call(
        self,
        tpe: Callable[..., Any],
        key: str,
        arg: Any = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> CallFuture[Any]:
        return self._call(tpe, key, arg, idempotency_key, headers)

    def workflow_call(
        self,
        tpe: Callable[..., Any],
        key: str,
        arg: Any = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> CallFuture[Any]:
        return self._call(tpe, key, arg, idempotency_key, headers)

    def service_send(
        self,
        tpe: Callable[..., Any],
        arg: Any = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._send(tpe, None, arg, send_delay, idempotency_key, headers)

    def object_send(
        self,
        tpe: Callable[..., Any],
        key: str,
        arg: Any = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._send(tpe, key, arg, send_delay, idempotency_key, headers)

    def workflow_send(
        self,
        tpe: Callable[..., Any],
        key: str,
        arg: Any = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._send(tpe, key, arg, send_delay, idempotency_key, headers)

    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        **_ignored: Any,
    ) -> CallFuture[bytes]:
        s = self._session
        param = _bytes_payload(arg)
        h = s.guard(
            lambda: s.machine.call(service, handler, param, key=key, headers=headers, idempotency_key=idempotency_key)
        )

        def decode(r: Result) -> bytes:
            _failure_or_none(r)
            return _payload_bytes(r)

        return CallFuture(s, h.invocation_id, h.result, decode)

    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        **_ignored: Any,
    ) -> SendHandle:
        return self._send_raw(service, handler, key, _bytes_payload(arg), send_delay, idempotency_key, headers)

    # ------------------------------------------------------------------ awakeables, invocations

    def awakeable(
        self, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> tuple[str, DurableFuture[T]]:
        s = self._session
        awk_id, leaf = s.guard(lambda: s.machine.awakeable())
        custom = None if isinstance(serde, DefaultSerde) and serde.type_hint is None else serde
        return awk_id, DurableFuture(s, leaf, lambda r: from_payload(r, type_hint, custom))

    def resolve_awakeable(self, name: str, value: Any, serde: Serde[Any] = DefaultSerde()) -> None:  # noqa: B008
        decode_awakeable_id(name)
        custom = None if isinstance(serde, DefaultSerde) and serde.type_hint is None else serde
        payload = to_payload(value, None, custom)
        result: Value | RawValue = payload if isinstance(payload, Value | RawValue) else Value(None)
        s = self._session
        s.guard(lambda: s.machine.complete_awakeable(name, result))

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        decode_awakeable_id(name)
        s = self._session
        s.guard(lambda: s.machine.complete_awakeable(name, Failure(failure_code, failure_message)))

    def cancel_invocation(self, invocation_id: str) -> None:
        s = self._session
        s.guard(lambda: s.machine.send_signal(invocation_id, CANCEL_SIGNAL_ID))

    def attach_invocation(
        self, invocation_id: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> DurableFuture[T]:
        s = self._session
        leaf = s.guard(lambda: s.machine.attach_invocation({"invocation_id": invocation_id}))
        return DurableFuture(s, leaf, lambda r: from_payload(r, type_hint))

    def get_invocation_output(
        self, invocation_id: str, type_hint: type[T] | None = None
    ) -> DurableFuture[T | None]:
        """The output of another invocation if it has finished, else None (never waits for it)."""
        s = self._session
        leaf = s.guard(lambda: s.machine.get_invocation_output({"invocation_id": invocation_id}))
        return DurableFuture(s, leaf, lambda r: from_payload(r, type_hint))

    def attach_workflow(self, workflow_name: str, workflow_key: str, type_hint: type[T] | None = None) -> DurableFuture[T]:
        s = self._session
        target = {"workflow_name": workflow_name, "workflow_key": workflow_key}
        leaf = s.guard(lambda: s.machine.attach_invocation(target))
        return DurableFuture(s, leaf, lambda r: from_payload(r, type_hint))


class ObjectSharedContext(Context):
    """Read-only access to a virtual object's (or workflow's) state."""

    def key(self) -> str:
        return self._session.machine.key or ""

    def get(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> Awaitable[T | None]:
        s = self._session
        r = s.guard(lambda: s.machine.get_state(name))
        custom = None if isinstance(serde, DefaultSerde) and serde.type_hint is None else serde
        value: T | None = from_payload(r, type_hint, custom)
        return ReadyFuture(s, value)

    def state_keys(self) -> Awaitable[list[str]]:
        s = self._session
        keys = s.guard(lambda: s.machine.get_state_keys())
        return ReadyFuture(s, list(keys))


class ObjectContext(ObjectSharedContext):
    """Read-write access to a virtual object's (or workflow's) state."""

    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde()) -> None:  # noqa: B008
        custom = None if isinstance(serde, DefaultSerde) and serde.type_hint is None else serde
        payload = to_payload(value, None, custom)
        stored: Value | RawValue = payload if isinstance(payload, Value | RawValue) else Value(None)
        s = self._session
        s.guard(lambda: s.machine.set_state(name, stored))

    def clear(self, name: str) -> None:
        s = self._session
        s.guard(lambda: s.machine.clear_state(name))

    def clear_all(self) -> None:
        s = self._session
        s.guard(lambda: s.machine.clear_all_state())


class WorkflowSharedContext(ObjectSharedContext):
    """A workflow's shared handlers: read state, await or complete promises."""

    def promise(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> DurablePromise[T]:
        return make_promise(self._session, name, serde, type_hint)


class WorkflowContext(ObjectContext):
    """A workflow's main handler: read-write state and promises."""

    def promise(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None  # noqa: B008
    ) -> DurablePromise[T]:
        return make_promise(self._session, name, serde, type_hint)


def make_context(session: Session) -> Context:
    spec = session.spec
    if spec.service_kind == "workflow":
        return WorkflowContext(session) if spec.kind == "workflow" else WorkflowSharedContext(session)
    if spec.service_kind == "object":
        return ObjectContext(session) if spec.kind == "exclusive" else ObjectSharedContext(session)
    return Context(session)


__all__ = [
    "Context",
    "DurablePromise",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RunOptions",
    "WorkflowContext",
    "WorkflowSharedContext",
    "make_context",
    "sleep_future",
]
