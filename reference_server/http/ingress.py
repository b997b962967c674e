"""Ingress (port 8080): Restate-compatible invocation, attach/output and awakeable endpoints.

Input is decoded and checked against the handler's JSON Schema *before* the request reaches
the core, so a bad body never creates an invocation, never burns a workflow key and never
turns into a 500 from the SDK.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

import jsonschema
import orjson

from .. import ids
from ..core.effects import SubmitRequest
from ..core.model import HandlerInfo, ServiceInfo
from ..durations import parse_duration_ms
from ..runtime import Runtime, now_ms
from .asgi import HttpError, Request, Response, error_response, is_json_content_type, json_response

log = logging.getLogger("durable.ingress")
Json = Any

NOT_FORWARDED = {
    "connection", "host", "idempotency-key", "idempotency-expires", "content-length",
    "transfer-encoding", "keep-alive", "upgrade", "te", "trailer", "expect",
}
NOT_READY = "the invocation exists but has not completed yet"


class Ingress:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._validators: dict[int, Any] = {}

    async def __call__(self, req: Request) -> Response:
        seg = req.segments
        if seg[:1] == ["restate"]:
            return await self._restate(req, seg[1:])
        if not seg:
            raise HttpError(404, "not found")
        mode = "call"
        svc = self._service(seg[0])
        if len(seg) >= 3 and seg[-1] == "send" and "send" not in svc.handlers:
            mode, seg = "send", seg[:-1]
        return await self._invoke(req, mode, seg)

    async def _restate(self, req: Request, rest: list[str]) -> Response:
        head = rest[0] if rest else ""
        if rest == ["health"]:
            _method(req, "GET")
            return json_response({"status": "ok", "services": sorted(self.runtime.engine.services)})
        if head in ("call", "send"):
            return await self._invoke(req, head, rest[1:])
        if head in ("attach", "output"):
            if len(rest) == 2:
                _method(req, "GET")
                return await self._attach(req, head, rest[1])
            if len(rest) == 1:
                _method(req, "POST")
                return await self._attach(req, head, _target_id(await req.json()))
        if head == "invocation" and len(rest) >= 3 and rest[-1] in ("attach", "output"):
            _method(req, "GET")
            if len(rest) == 3:
                return await self._attach(req, rest[-1], rest[1])
            parts = rest[1:-1]
            if len(parts) in (3, 4):
                key = parts[1] if len(parts) == 4 else None
                inv_id = ids.idempotent_invocation_id(parts[0], key, parts[-2], parts[-1])
                return await self._attach(req, rest[-1], inv_id)
        if head == "workflow" and len(rest) == 4 and rest[-1] in ("attach", "output"):
            _method(req, "GET")
            return await self._attach(req, rest[-1], ids.workflow_invocation_id(rest[1], rest[2]))
        if head in ("awakeables", "a") and len(rest) == 3 and rest[2] in ("resolve", "reject"):
            _method(req, "POST")
            return await self._awakeable(req, rest[1], rest[2])
        if head == "lookup" and len(rest) == 1:
            _method(req, "POST")
            return json_response({"invocationId": _target_id(await req.json())})
        raise HttpError(404, f"not found: {req.path}")

    # ------------------------------------------------------------------ invoke

    def _service(self, name: str) -> ServiceInfo:
        svc = self.runtime.engine.services.get(name)
        if svc is None:
            raise HttpError(404, f"service '{name}' not found")
        return svc

    async def _invoke(self, req: Request, mode: str, seg: list[str]) -> Response:
        if len(seg) not in (2, 3):
            raise HttpError(404, f"not found: {req.path}")
        svc = self._service(seg[0])
        key = seg[1] if len(seg) == 3 else None
        handler = svc.handlers.get(seg[-1])
        if handler is None:
            raise HttpError(404, f"handler '{seg[-1]}' not found in service '{svc.name}'")
        if handler.private:
            raise HttpError(400, f"'{svc.name}/{handler.name}' is private: it can only be called from a handler")
        if req.method not in ("GET", "POST"):
            raise HttpError(405, f"method {req.method} not allowed", {"allow": "GET, POST"})
        if svc.ty == "service" and key is not None:
            raise HttpError(400, f"service '{svc.name}' is not keyed: remove the key from the path")
        if svc.ty != "service" and key is None:
            raise HttpError(400, f"'{svc.name}' is keyed: use /{svc.name}/{{key}}/{handler.name}")
        execute_at = None
        delay = req.param("delay")
        if delay is not None:
            if mode != "send":
                raise HttpError(400, "'delay' is only allowed on send")
            try:
                execute_at = now_ms() + parse_duration_ms(delay)
            except ValueError as exc:
                raise HttpError(400, f"invalid delay: {exc}") from exc
        parameter = self._input(handler, await req.body(), req.headers.get("content-type", ""))
        headers = {k: v for k, v in req.headers.items() if k not in NOT_FORWARDED}
        idem = req.headers.get("idempotency-key") or None
        if idem is not None and handler.ty == "workflow":
            raise HttpError(400, "idempotency-key is not allowed on a workflow's run handler (the key deduplicates)")
        sreq = SubmitRequest(
            service=svc.name,
            handler=handler.name,
            key=key,
            parameter=parameter,
            headers=headers,
            idempotency_key=idem,
            mode=mode,
            execute_at=execute_at,
        )
        result, fut = await self.runtime.submit(sreq, wait=mode == "call")
        if result.invocation_id is None:
            raise HttpError(404, f"handler '{svc.name}/{handler.name}' not found")
        id_header = {"x-restate-id": result.invocation_id}
        if mode == "send":
            body: dict[str, Json] = {
                "invocationId": result.invocation_id,
                "status": "Accepted" if result.status == "accepted" else "PreviouslyAccepted",
            }
            if execute_at is not None and result.status == "accepted":
                body["executionTime"] = _rfc3339(execute_at)
            return json_response(body, 202, id_header)
        if result.status == "already_invoked":
            return error_response(
                409, "the workflow method was already invoked", id_header, "WORKFLOW_ALREADY_INVOKED"
            )
        assert fut is not None
        return output_response(await fut, result.invocation_id, handler)

    def _input(self, handler: HandlerInfo, body: bytes, ctype: str) -> Json:
        expected = handler.input_content_type
        if not body:
            if handler.input_required:
                raise HttpError(400, f"handler '{handler.name}' requires an input body")
            return {"void": True}
        expects_json = expected is None or is_json_content_type(expected)
        base = ctype.split(";", 1)[0].strip().lower()
        if not base or base == "application/x-www-form-urlencoded":
            base = "application/json" if expects_json else (expected or "application/octet-stream")
        elif not _content_type_matches(base, expected or "application/json"):
            raise HttpError(415, f"handler '{handler.name}' expects {expected or 'application/json'}, got {ctype}")
        if is_json_content_type(base):
            try:
                value = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HttpError(400, f"malformed JSON input: {exc}") from exc
            self._check_schema(handler, value)
            return {"value": value}
        return {"value_bytes": base64.b64encode(body).decode("ascii")}

    def _check_schema(self, handler: HandlerInfo, value: Json) -> None:
        schema = handler.input_schema
        if not isinstance(schema, dict | bool):
            return
        validator = self._validators.get(id(schema))
        if validator is None:
            try:
                cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
                cls.check_schema(schema)
                validator = cls(schema)
            except jsonschema.SchemaError:
                log.warning("ignoring the invalid input schema of %s", handler.name)
                return
            self._validators[id(schema)] = validator
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise HttpError(400, f"input does not match the handler's schema at {where}: {error.message}")

    # ------------------------------------------------------------------ attach / output

    async def _attach(self, req: Request, kind: str, inv_id: str) -> Response:
        if not ids.valid_invocation_id(inv_id):
            raise HttpError(400, f"invalid invocation id {inv_id!r}")
        inv, fut = await self.runtime.attach(inv_id, wait=kind == "attach")
        if inv is None:
            raise HttpError(404, f"invocation {inv_id} not found", {"x-restate-id": inv_id})
        if fut is None:
                return error_response(470, NOT_READY, {"x-restate-id": inv_id}, "NOT_READY")
        svc = self.runtime.engine.services.get(inv.service)
        handler = svc.handlers.get(inv.handler) if svc is not None else None
        return output_response(await fut, inv_id, handler)

    async def _awakeable(self, req: Request, awakeable_id: str, action: str) -> Response:
        parsed = ids.parse_awakeable_id(awakeable_id)
        if parsed is None:
            raise HttpError(400, f"invalid awakeable id {awakeable_id!r}")
        target = await self.runtime.lookup(parsed[0])
        if target is None or target.completed:
            raise HttpError(404, f"the invocation of awakeable {awakeable_id} does not exist or has completed")
        body = await req.body()
        result: Json
        if action == "reject":
            result = {"failure": {"code": 500, "message": body.decode("utf-8", "replace")}}
        elif not body:
            result = {"void": True}
        elif is_json_content_type(req.headers.get("content-type", "application/json")):
            try:
                result = {"value": orjson.loads(body)}
            except orjson.JSONDecodeError as exc:
                raise HttpError(400, f"malformed JSON body: {exc}") from exc
        else:
            result = {"value_bytes": base64.b64encode(body).decode("ascii")}
        if not await self.runtime.resolve_awakeable(awakeable_id, result):
            raise HttpError(404, f"the invocation of awakeable {awakeable_id} has completed")
        return Response(202)


def output_response(result: Json, inv_id: str, handler: HandlerInfo | None) -> Response:
    headers = {"x-restate-id": inv_id}
    ctype = (handler.output_content_type if handler else None) or "application/json"
    if "value" in result:
        return Response(200, orjson.dumps(result["value"]), {"content-type": ctype, **headers})
    if "value_bytes" in result:
        if ctype == "application/json":
            ctype = "application/octet-stream"
        return Response(200, base64.b64decode(result["value_bytes"]), {"content-type": ctype, **headers})
    if "failure" in result:
        fail = result["failure"]
        code = fail.get("code", 500)
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        body: dict[str, Json] = {"code": code, "message": fail.get("message", "")}
        if fail.get("metadata"):
            body["metadata"] = fail["metadata"]
        return json_response(body, status, headers)
    if handler is not None and handler.output_content_type_if_empty:
        headers["content-type"] = ctype
    return Response(200, b"", headers)


def _content_type_matches(actual: str, declared: str) -> bool:
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in ("*/*", actual):
        return True
    if declared.endswith("/*"):
        return actual.startswith(declared[:-1])
    return is_json_content_type(declared) and is_json_content_type(actual)


_TARGET_FIELDS = {
    "invocation": ({"invocationId"}, set()),
    "workflow": ({"workflowName", "workflowKey"}, set()),
    "idempotentInvocation": ({"service", "handler", "idempotencyKey"}, {"key"}),
}


def _target_id(body: Json) -> str:
    """The invocation id a target body names (schemas/ingress/attach-request.json)."""
    if not isinstance(body, dict) or body.get("target") not in _TARGET_FIELDS:
        raise HttpError(400, "expected {'target': 'invocation' | 'workflow' | 'idempotentInvocation', ...}")
    required, optional = _TARGET_FIELDS[body["target"]]
    fields = set(body) - {"target", "scope"}
    if not required <= fields or fields - required - optional:
        raise HttpError(
            400, f"target '{body['target']}' needs exactly {sorted(required)} (optional {sorted(optional)})"
        )
    if any(not isinstance(body[f], str) for f in fields):
        raise HttpError(400, "target fields must be strings")
    if body["target"] == "invocation":
        return str(body["invocationId"])
    if body["target"] == "workflow":
        if not body["workflowName"]:
            raise HttpError(400, "workflowName must not be empty")
        return ids.workflow_invocation_id(body["workflowName"], body["workflowKey"])
    return ids.idempotent_invocation_id(
        body["service"], body.get("key"), body["handler"], body["idempotencyKey"]
    )


def _method(req: Request, *allowed: str) -> None:
    if req.method not in allowed:
        raise HttpError(405, f"method {req.method} not allowed", {"allow": ", ".join(allowed)})


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
