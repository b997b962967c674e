"""Discovery: fetch a deployment's endpoint manifest and turn it into ``ServiceInfo``.

The manifest follows Restate's shape (``services[].name/ty/handlers[]``, camelCase options)
so that one mental model serves both; anything we cannot use is rejected with a message
that names the field, because a half-understood manifest would fail much later and far
from its cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson

from durable.protocol import MANIFEST_CONTENT_TYPE, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION

from .core.model import HandlerInfo, ServiceInfo

Json = Any

_SERVICE_NAME = re.compile(r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$")
_HANDLER_NAME = re.compile(r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$")
_SERVICE_TY = {"SERVICE": "service", "VIRTUAL_OBJECT": "object", "WORKFLOW": "workflow"}
_HANDLER_TY = {"EXCLUSIVE": "exclusive", "SHARED": "shared", "WORKFLOW": "workflow"}


class DiscoveryError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def validate_uri(uri: Json) -> str:
    if not isinstance(uri, str) or not uri:
        raise DiscoveryError("'uri' must be a non-empty string")
    try:
        parsed = httpx.URL(uri)
    except (httpx.InvalidURL, ValueError) as exc:
        raise DiscoveryError(f"invalid uri {uri!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DiscoveryError(f"invalid uri {uri!r}: expected http(s)://host[:port][/path]")
    return uri.rstrip("/")


async def discover(client: httpx.AsyncClient, uri: str, headers: dict[str, str]) -> Json:
    """The deployment's manifest; errors never echo a registered header value (ERR-GEN-5),
    even when the deployment's own answer, which they quote, repeats one."""
    try:
        return await _discover(client, uri, headers)
    except DiscoveryError as exc:
        message = redact(str(exc), headers.values())
        if message == str(exc):
            raise
        raise DiscoveryError(message, exc.status) from None


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of 4 characters or more replaced by ``[redacted]``."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


async def _discover(client: httpx.AsyncClient, uri: str, headers: dict[str, str]) -> Json:
    try:
        resp = await client.get(
            f"{uri}/discover", headers={**headers, "accept": MANIFEST_CONTENT_TYPE}, timeout=10.0
        )
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"cannot reach {uri}/discover: {exc!r}") from exc
    if resp.status_code != 200:
        raise DiscoveryError(f"{uri}/discover answered {resp.status_code}: {resp.text[:300]}")
    ctype = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != MANIFEST_CONTENT_TYPE:
        raise DiscoveryError(f"{uri}/discover answered content-type {ctype!r}, expected {MANIFEST_CONTENT_TYPE}")
    try:
        manifest = resp.json()
    except ValueError as exc:
        raise DiscoveryError(f"{uri}/discover did not return JSON: {exc}") from exc
    _check_schema(manifest)
    return manifest


@lru_cache(maxsize=1)
def _manifest_validator() -> Any:
    path = Path(__file__).resolve().parents[1] / "spec" / "schemas" / "discovery" / "manifest.json"
    if not path.is_file():
        return None
    schema = orjson.loads(path.read_bytes())
    return jsonschema.Draft202012Validator(schema)


def _check_schema(manifest: Json) -> None:
    validator = _manifest_validator()
    if validator is None:
        return
    # Unknown fields are an error like any other schema violation (DISC-MAN-1, DISC-REQ-5).
    errors = list(validator.iter_errors(manifest))
    error = jsonschema.exceptions.best_match(errors)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise DiscoveryError(f"invalid manifest at {where}: {error.message}")


def _check_json_schema(schema: Json, where: str) -> None:
    """DISC-MAN-8: a declared jsonSchema is a JSON Schema (draft 2020-12 unless it says otherwise)."""
    if schema is None or isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise DiscoveryError(f"{where} must be a JSON Schema (an object or a boolean)")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise DiscoveryError(f"{where} is not a valid JSON Schema: {exc.message}") from exc


_RETRY_FIELDS = (
    ("retryPolicyInitialInterval", "initial_interval_ms", int),
    ("retryPolicyExponentiationFactor", "factor", float),
    ("retryPolicyMaxInterval", "max_interval_ms", int),
    ("retryPolicyMaxAttempts", "max_attempts", int),
)


def _retry(obj: Json, where: str) -> dict[str, Json] | None:
    out: dict[str, Json] = {}
    for manifest_name, field, cast in _RETRY_FIELDS:
        value = obj.get(manifest_name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise DiscoveryError(f"{where}: {manifest_name} must be a non-negative number")
        out[field] = cast(value)
    if out.get("factor", 1.0) < 1.0:
        raise DiscoveryError(f"{where}: retryPolicyExponentiationFactor must be >= 1")
    if out.get("max_attempts", 1) < 1:
        raise DiscoveryError(f"{where}: retryPolicyMaxAttempts must be >= 1")
    return out or None


def _first_set(*values: int | None) -> int | None:
    """The first value that is not None (a handler's own setting wins, even 0)."""
    return next((v for v in values if v is not None), None)


def _ms(obj: Json, name: str, where: str) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DiscoveryError(f"{where}: {name} must be a non-negative integer (ms)")
    return value


def parse_manifest(manifest: Json, deployment_id: str) -> list[ServiceInfo]:
    if not isinstance(manifest, dict):
        raise DiscoveryError("the manifest must be a JSON object")
    lo, hi = manifest.get("minProtocolVersion"), manifest.get("maxProtocolVersion")
    if not isinstance(lo, int) or not isinstance(hi, int) or lo > hi:
        raise DiscoveryError("minProtocolVersion/maxProtocolVersion missing or invalid")
    if hi < MIN_PROTOCOL_VERSION or lo > MAX_PROTOCOL_VERSION:
        raise DiscoveryError(
            f"protocol versions {lo}..{hi} do not overlap the server's "
            f"{MIN_PROTOCOL_VERSION}..{MAX_PROTOCOL_VERSION}"
        )
    services = manifest.get("services")
    if not isinstance(services, list):
        raise DiscoveryError("'services' must be a list")
    out: list[ServiceInfo] = []
    seen: set[str] = set()
    for s in services:
        if not isinstance(s, dict):
            raise DiscoveryError("each service must be an object")
        name = s.get("name")
        if not isinstance(name, str) or not _SERVICE_NAME.match(name):
            raise DiscoveryError(f"invalid service name {name!r}")
        if name in seen:
            raise DiscoveryError(f"service {name} is listed twice")
        seen.add(name)
        ty = _SERVICE_TY.get(str(s.get("ty", "")).upper())
        if ty is None:
            raise DiscoveryError(f"service {name}: ty must be SERVICE, VIRTUAL_OBJECT or WORKFLOW")
        svc_retry = _retry(s, name)
        svc_abort = _ms(s, "abortTimeout", name)
        handlers: dict[str, HandlerInfo] = {}
        raw_handlers = s.get("handlers")
        if not isinstance(raw_handlers, list):
            raise DiscoveryError(f"service {name}: 'handlers' must be a list")
        for h in raw_handlers:
            if not isinstance(h, dict):
                raise DiscoveryError(f"service {name}: each handler must be an object")
            hname = h.get("name")
            if not isinstance(hname, str) or not _HANDLER_NAME.match(hname):
                raise DiscoveryError(f"service {name}: invalid handler name {hname!r}")
            hty_raw = h.get("ty")
            if hty_raw is None:
                hty = {"service": "shared", "object": "exclusive", "workflow": "shared"}[ty]
                if ty == "workflow" and hname == "run":
                    hty = "workflow"
            else:
                hty_opt = _HANDLER_TY.get(str(hty_raw).upper())
                if hty_opt is None:
                    raise DiscoveryError(f"handler {name}/{hname}: invalid ty {hty_raw!r}")
                hty = hty_opt
            if ty == "service":
                if hty_raw is not None:  # DISC-MAN-5
                    raise DiscoveryError(f"handler {name}/{hname}: a handler of a SERVICE has no ty")
                hty = "shared"
            elif ty == "object" and hty == "workflow":
                raise DiscoveryError(f"handler {name}/{hname}: an object cannot have a WORKFLOW handler")
            elif ty == "workflow" and hty == "exclusive":
                raise DiscoveryError(f"handler {name}/{hname}: a workflow has WORKFLOW or SHARED handlers")
            inp = h.get("input") or {}
            outp = h.get("output") or {}
            if not isinstance(inp, dict) or not isinstance(outp, dict):
                raise DiscoveryError(f"handler {name}/{hname}: input/output must be objects")
            where = f"handler {name}/{hname}"
            for part, decl in (("input", inp), ("output", outp)):
                _check_json_schema(decl.get("jsonSchema"), f"{where}: {part}.jsonSchema")
            if "workflowCompletionRetention" in h and hty != "workflow":
                raise DiscoveryError(f"{where}: workflowCompletionRetention is only for a workflow's run handler")
            if "idempotencyRetention" in h and hty == "workflow":
                raise DiscoveryError(f"{where}: idempotencyRetention is not allowed on a workflow's run handler")
            abort = _ms(h, "abortTimeout", where)
            svc_idempotency_retention = _ms(s, "idempotencyRetention", f"service {name}")
            handlers[hname] = HandlerInfo(
                name=hname,
                ty=hty,
                input_schema=inp.get("jsonSchema"),
                input_content_type=inp.get("contentType"),
                input_required=bool(inp.get("required", False)),
                output_content_type=outp.get("contentType"),
                output_schema=outp.get("jsonSchema"),
                output_content_type_if_empty=bool(outp.get("setContentTypeIfEmpty", False)),
                retention_ms=_ms(h, "workflowCompletionRetention", where)
                if hty == "workflow"
                else _first_set(_ms(h, "idempotencyRetention", where), svc_idempotency_retention),
                retry=_retry(h, where),
                abort_timeout_ms=abort if abort is not None else svc_abort,
                documentation=h.get("documentation"),
                private=bool(h.get("ingressPrivate", False) or s.get("ingressPrivate", False)),
            )
        if ty == "workflow" and sum(1 for x in handlers.values() if x.ty == "workflow") != 1:
            raise DiscoveryError(f"workflow {name} must have exactly one WORKFLOW handler")
        out.append(ServiceInfo(name, ty, deployment_id, handlers, svc_retry, s))
    return out
