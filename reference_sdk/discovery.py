"""The endpoint manifest served at ``GET /discover`` (camelCase, Restate's shape).

Input JSON Schemas come from the handlers' type hints so that the server can validate a request
body at the ingress, before an invocation (or a workflow key) is used up.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from durable.protocol.messages import MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION

from .serde import json_schema
from .service import AnyService, HandlerOptions, HandlerSpec, InvocationRetryPolicy

_SERVICE_TY = {"service": "SERVICE", "object": "VIRTUAL_OBJECT", "workflow": "WORKFLOW"}
_HANDLER_TY = {"exclusive": "EXCLUSIVE", "shared": "SHARED", "workflow": "WORKFLOW"}


def _ms(d: timedelta | None) -> int | None:
    return None if d is None else int(d.total_seconds() * 1000)


def _retry_fields(p: InvocationRetryPolicy | None) -> dict[str, Any]:
    if p is None:
        return {}
    out: dict[str, Any] = {
        "retryPolicyInitialInterval": _ms(p.initial_interval),
        "retryPolicyMaxInterval": _ms(p.max_interval),
        "retryPolicyMaxAttempts": p.max_attempts,
        "retryPolicyExponentiationFactor": p.exponentiation_factor,
        "retryPolicyOnMaxAttempts": p.on_max_attempts.upper() if p.on_max_attempts else None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _option_fields(o: HandlerOptions, *, workflow_main: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metadata": o.metadata or None,
        "inactivityTimeout": _ms(o.inactivity_timeout),
        "abortTimeout": _ms(o.abort_timeout),
        "journalRetention": _ms(o.journal_retention),
        "idempotencyRetention": None if workflow_main else _ms(o.idempotency_retention),
        "workflowCompletionRetention": _ms(o.workflow_retention) if workflow_main else None,
        "ingressPrivate": o.ingress_private,
    }
    out.update(_retry_fields(o.retry_policy))
    return {k: v for k, v in out.items() if v is not None}


def handler_manifest(h: HandlerSpec) -> dict[str, Any]:
    inp: dict[str, Any] = {"required": h.input_required}
    if h.has_input:
        inp["contentType"] = h.options.content_type
        schema = json_schema(h.input_hint) if h.input_serde is None else None
        if schema is not None:
            inp["jsonSchema"] = schema
    out: dict[str, Any] = {"contentType": "application/json", "setContentTypeIfEmpty": False}
    schema = json_schema(h.output_hint) if h.output_serde is None else None
    if schema is not None:
        out["jsonSchema"] = schema
    entry: dict[str, Any] = {"name": h.name, "input": inp, "output": out}
    if h.service_kind != "service" and h.kind is not None:
        entry["ty"] = _HANDLER_TY[h.kind]
    entry.update(_option_fields(h.options, workflow_main=h.kind == "workflow"))
    return entry


def service_manifest(s: AnyService) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": s.name,
        "ty": _SERVICE_TY[s.kind],
        "handlers": [handler_manifest(h) for h in s.handlers.values()],
    }
    if s.description:
        entry["documentation"] = s.description
    entry.update(_option_fields(s.options, workflow_main=False))
    return entry


def manifest(services: list[AnyService], *, protocol_mode: str = "BIDI_STREAM") -> dict[str, Any]:
    """The manifest; ``protocol_mode`` is ``BIDI_STREAM`` or ``REQUEST_RESPONSE`` (DISC-MAN-2)."""
    return {
        "protocolMode": protocol_mode,
        "minProtocolVersion": MIN_PROTOCOL_VERSION,
        "maxProtocolVersion": MAX_PROTOCOL_VERSION,
        "services": [service_manifest(s) for s in services],
    }


__all__ = ["handler_manifest", "manifest", "service_manifest"]
