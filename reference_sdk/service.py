"""Service definitions: ``Service``, ``VirtualObject`` and ``Workflow`` with decorated handlers.

The decorators only *describe* handlers (name, kind, input/output types from the signature,
serdes, options); they return the user's function unchanged, tagged with its
:class:`HandlerSpec` so that ``ctx.service_call(fn, arg=...)`` can find the target.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from .serde import DefaultSerde, Serde, return_hint

F = TypeVar("F", bound=Callable[..., Any])

ServiceKind = Literal["service", "object", "workflow"]
HandlerKind = Literal["exclusive", "shared", "workflow"] | None

SPEC_ATTR = "__durable_handler__"


@dataclass(frozen=True, slots=True)
class InvocationRetryPolicy:
    """Server-side retry policy for a service or handler (advertised in the manifest)."""

    initial_interval: timedelta | None = None
    max_interval: timedelta | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: Literal["pause", "kill"] | None = None


@dataclass(frozen=True, slots=True)
class HandlerOptions:
    accept: str = "application/json"
    content_type: str = "application/json"
    metadata: dict[str, str] | None = None
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    journal_retention: timedelta | None = None
    idempotency_retention: timedelta | None = None
    workflow_retention: timedelta | None = None
    ingress_private: bool | None = None
    retry_policy: InvocationRetryPolicy | None = None


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    service_name: str
    service_kind: ServiceKind
    name: str
    kind: HandlerKind
    fn: Callable[..., Any]
    has_input: bool
    input_required: bool
    input_hint: Any
    output_hint: Any
    input_serde: Serde[Any] | None
    output_serde: Serde[Any] | None
    options: HandlerOptions = field(default_factory=HandlerOptions)


def _signature_types(fn: Callable[..., Any]) -> tuple[bool, bool, Any, Any]:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params:
        raise TypeError(f"handler {fn.__name__} must take the context as its first parameter")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    if len(params) > 2:
        raise TypeError(f"handler {fn.__name__} takes at most (ctx, input)")
    if len(params) == 1:
        return False, False, None, return_hint(fn)
    p = params[1]
    required = p.default is inspect.Parameter.empty
    return True, required, hints.get(p.name), return_hint(fn)


def _serde(s: Serde[Any] | None) -> Serde[Any] | None:
    return None if s is None or (isinstance(s, DefaultSerde) and s.type_hint is None) else s


class ServiceDefinition:
    """What Service, VirtualObject and Workflow share: a name, options and handlers."""

    kind: ServiceKind = "service"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        **_ignored: Any,
    ) -> None:
        self._name = name
        self.description = description
        self.metadata = metadata
        self.options = HandlerOptions(
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            idempotency_retention=idempotency_retention,
            ingress_private=ingress_private,
            retry_policy=invocation_retry_policy,
        )
        self.handlers: dict[str, HandlerSpec] = {}

    @property
    def name(self) -> str:
        return self._name

    def _register(
        self,
        fn: F,
        name: str | None,
        kind: HandlerKind,
        input_serde: Serde[Any] | None,
        output_serde: Serde[Any] | None,
        options: HandlerOptions,
    ) -> F:
        has_input, required, in_hint, out_hint = _signature_types(fn)
        handler_name = name or fn.__name__
        if handler_name in self.handlers:
            raise ValueError(f"{self._name} already has a handler named {handler_name!r}")
        spec = HandlerSpec(
            service_name=self._name,
            service_kind=self.kind,
            name=handler_name,
            kind=kind,
            fn=fn,
            has_input=has_input,
            input_required=required,
            input_hint=in_hint,
            output_hint=out_hint,
            input_serde=_serde(input_serde),
            output_serde=_serde(output_serde),
            options=options,
        )
        self.handlers[handler_name] = spec
        setattr(fn, SPEC_ATTR, spec)
        return fn

    def _decorator(
        self,
        name: str | None,
        kind: HandlerKind,
        accept: str,
        content_type: str,
        input_serde: Serde[Any] | None,
        output_serde: Serde[Any] | None,
        metadata: dict[str, str] | None,
        inactivity_timeout: timedelta | None,
        abort_timeout: timedelta | None,
        journal_retention: timedelta | None,
        idempotency_retention: timedelta | None,
        workflow_retention: timedelta | None,
        ingress_private: bool | None,
        invocation_retry_policy: InvocationRetryPolicy | None,
    ) -> Callable[[F], F]:
        options = HandlerOptions(
            accept=accept,
            content_type=content_type,
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            idempotency_retention=idempotency_retention,
            workflow_retention=workflow_retention,
            ingress_private=ingress_private,
            retry_policy=invocation_retry_policy,
        )

        def wrapper(fn: F) -> F:
            return self._register(fn, name, kind, input_serde, output_serde, options)

        return wrapper


class Service(ServiceDefinition):
    """Stateless handlers."""

    kind: ServiceKind = "service"

    def handler(
        self,
        name: str | None = None,
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        **_ignored: Any,
    ) -> Callable[[F], F]:
        return self._decorator(
            name, None, accept, content_type, input_serde, output_serde, metadata,
            inactivity_timeout, abort_timeout, journal_retention, idempotency_retention, None,
            ingress_private, invocation_retry_policy,
        )


class VirtualObject(ServiceDefinition):
    """Keyed state with exclusive (one at a time per key) and shared (read-only) handlers."""

    kind: ServiceKind = "object"

    def handler(
        self,
        name: str | None = None,
        kind: Literal["exclusive", "shared"] | None = "exclusive",
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        **_ignored: Any,
    ) -> Callable[[F], F]:
        return self._decorator(
            name, kind or "exclusive", accept, content_type, input_serde, output_serde, metadata,
            inactivity_timeout, abort_timeout, journal_retention, idempotency_retention, None,
            ingress_private, invocation_retry_policy,
        )


class Workflow(ServiceDefinition):
    """A ``main`` handler that runs once per key, plus shared handlers (queries, signals)."""

    kind: ServiceKind = "workflow"

    def main(
        self,
        name: str | None = None,
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        workflow_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        **_ignored: Any,
    ) -> Callable[[F], F]:
        return self._decorator(
            name, "workflow", accept, content_type, input_serde, output_serde, metadata,
            inactivity_timeout, abort_timeout, journal_retention, None, workflow_retention,
            ingress_private, invocation_retry_policy,
        )

    def handler(
        self,
        name: str | None = None,
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        **_ignored: Any,
    ) -> Callable[[F], F]:
        return self._decorator(
            name, "shared", accept, content_type, input_serde, output_serde, metadata,
            inactivity_timeout, abort_timeout, journal_retention, idempotency_retention, None,
            ingress_private, invocation_retry_policy,
        )


AnyService = ServiceDefinition


def handler_spec(fn: Any) -> HandlerSpec:
    spec = getattr(fn, SPEC_ATTR, None)
    if not isinstance(spec, HandlerSpec):
        raise TypeError(f"{fn!r} is not a handler declared with @service.handler()")
    return spec


__all__ = [
    "AnyService",
    "HandlerOptions",
    "HandlerSpec",
    "InvocationRetryPolicy",
    "Service",
    "ServiceDefinition",
    "VirtualObject",
    "Workflow",
    "handler_spec",
]
