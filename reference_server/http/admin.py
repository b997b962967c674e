"""Admin API (port 9070): deployments, services, invocations, state, health, OpenAPI.

Paths and status codes follow Restate's admin API where it has one (deployments,
``PATCH /invocations/{id}/cancel|kill|purge``); introspection that Restate does through SQL
(``GET /invocations``, ``GET /invocations/{id}``, state) is plain JSON here.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from .. import ids
from ..core.model import STATUSES, Inv, ServiceInfo
from ..registry import DiscoveryError
from ..runtime import Runtime
from .asgi import HttpError, Request, Response, json_response
from .openapi import openapi_document

Json = Any
_TY = {"service": "SERVICE", "object": "VIRTUAL_OBJECT", "workflow": "WORKFLOW"}
_HTY = {"exclusive": "EXCLUSIVE", "shared": "SHARED", "workflow": "WORKFLOW"}
_CONTROL = {
    "cancel": {"done": 200, "accepted": 202, "not_found": 404, "completed": 409},
    "kill": {"done": 200, "not_found": 404, "completed": 409},
    "purge": {"done": 200, "not_found": 404, "not_completed": 409},
}


def service_json(svc: ServiceInfo) -> dict[str, Json]:
    return {
        "name": svc.name,
        "ty": _TY[svc.ty],
        "deployment_id": svc.deployment_id,
        "handlers": [
            {
                "name": h.name,
                "ty": _HTY[h.ty],
                "input_json_schema": h.input_schema,
                "input_content_type": h.input_content_type,
                "output_content_type": h.output_content_type,
            }
            for h in svc.handlers.values()
        ],
    }


def payload_value(payload: Json) -> Json:
    if isinstance(payload, dict):
        if "value" in payload:
            return payload["value"]
        if "value_bytes" in payload:
            return payload["value_bytes"]
    return None


class Admin:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, req: Request) -> Response:
        seg = req.segments
        head = seg[0] if seg else ""
        if seg == ["health"]:
            _method(req, "GET")
            return json_response({"status": "ok"})
        if seg == ["version"]:
            _method(req, "GET")
            return json_response({"version": "0.1.0", "min_admin_api_version": 1, "max_admin_api_version": 1})
        if seg in (["openapi.json"], ["openapi"]):
            _method(req, "GET")
            return json_response(openapi_document())
        if head == "deployments":
            return await self._deployments(req, seg[1:])
        if head == "services":
            return await self._services(req, seg[1:])
        if head == "invocations":
            return await self._invocations(req, seg[1:])
        raise HttpError(404, f"not found: {req.path}")

    async def _deployments(self, req: Request, rest: list[str]) -> Response:
        deps = self.runtime.deployments
        if not rest:
            _method(req, "GET", "POST")
            if req.method == "GET":
                return json_response({"deployments": [self._dep(d) for d in deps]})
            body = await req.json()
            if not isinstance(body, dict) or "uri" not in body:
                raise HttpError(400, "expected a JSON object with 'uri'")
            try:
                created, dep_id, _ = await self.runtime.register(body["uri"])
            except DiscoveryError as exc:
                raise HttpError(400, str(exc)) from exc
            return json_response(
                self._dep(dep_id), 201 if created else 200, {"location": f"/deployments/{dep_id}"}
            )
        if len(rest) == 1:
            _method(req, "GET")
            if rest[0] not in deps:
                raise HttpError(404, f"deployment {rest[0]} not found")
            return json_response(self._dep(rest[0]))
        raise HttpError(404, f"not found: {req.path}")

    def _dep(self, dep_id: str) -> dict[str, Json]:
        uri, manifest = self.runtime.deployments[dep_id]
        services = [
            service_json(s) for s in self.runtime.engine.services.values() if s.deployment_id == dep_id
        ]
        return {
            "id": dep_id,
            "uri": uri,
            "services": services,
            "min_protocol_version": manifest.get("minProtocolVersion"),
            "max_protocol_version": manifest.get("maxProtocolVersion"),
        }

    async def _services(self, req: Request, rest: list[str]) -> Response:
        _method(req, "GET")
        services = self.runtime.engine.services
        if not rest:
            return json_response({"services": [service_json(s) for s in services.values()]})
        svc = services.get(rest[0])
        if svc is None:
            raise HttpError(404, f"service '{rest[0]}' not found")
        if len(rest) == 1:
            return json_response(service_json(svc))
        if len(rest) == 3 and rest[1] == "state":
            if svc.ty == "service":
                raise HttpError(400, f"service '{svc.name}' has no state (not keyed)")
            state = await self.runtime.store.read_state(svc.name, rest[2])
            return json_response(
                {"state": {k: payload_value(orjson.loads(v)) for k, v in state.items()}}
            )
        raise HttpError(404, f"not found: {req.path}")

    async def _invocations(self, req: Request, rest: list[str]) -> Response:
        if not rest:
            _method(req, "GET")
            status = req.param("status")
            if status is not None and status not in STATUSES:
                raise HttpError(400, f"status must be one of {', '.join(STATUSES)}")
            limit_raw = req.param("limit") or "100"
            if not limit_raw.isdigit() or not 0 < int(limit_raw) <= 10_000:
                raise HttpError(400, "limit must be an integer in 1..10000")
            rows = await self.runtime.store.list_invocations(
                status, req.param("service"), req.param("key"), int(limit_raw)
            )
            return json_response({"invocations": [Inv.from_data(r).summary() for r in rows]})
        inv_id = rest[0]
        if not ids.valid_invocation_id(inv_id):
            raise HttpError(400, f"invalid invocation id {inv_id!r}")
        if len(rest) == 1 and req.method == "DELETE":
            mode = req.param("mode") or "cancel"
            if mode not in _CONTROL:
                raise HttpError(400, "mode must be cancel, kill or purge")
            return await self._control(mode, inv_id, deprecated=True)
        if len(rest) == 1:
            _method(req, "GET", "DELETE")
            return await self._describe(inv_id)
        if len(rest) == 2 and rest[1] in _CONTROL:
            _method(req, "PATCH")
            return await self._control(rest[1], inv_id)
        raise HttpError(404, f"not found: {req.path}")

    async def _control(self, action: str, inv_id: str, deprecated: bool = False) -> Response:
        outcome = await self.runtime.control(action, inv_id)
        status = _CONTROL[action][outcome]
        if status >= 400:
            message = {
                "not_found": f"invocation {inv_id} not found",
                "completed": f"invocation {inv_id} is already completed",
                "not_completed": f"invocation {inv_id} is not completed yet",
            }[outcome]
            raise HttpError(status, message)
        return json_response({"invocationId": inv_id, "status": outcome}, 202 if deprecated else status)

    async def _describe(self, inv_id: str) -> Response:
        inv = await self.runtime.lookup(inv_id)
        if inv is None:
            raise HttpError(404, f"invocation {inv_id} not found")
        entries = [orjson.loads(e) for e in await self.runtime.store.read_journal(inv_id, 0, inv.journal_length)]
        completions = {
            e["completion_id"]: {k: v for k, v in e.items() if k not in ("type", "index", "completion_id")}
            for e in entries
            if e.get("type") == "completion"
        }
        journal = []
        for e in entries:
            view = dict(e)
            cid = e.get("completion_id")
            if e.get("type") not in ("completion", "signal") and cid:
                view["completed"] = cid in completions
                if cid in completions:
                    view["completion"] = completions[cid]
            if "value_bytes" in view:
                view["value_bytes_len"] = len(base64.b64decode(view["value_bytes"]))
            journal.append(view)
        return json_response({**inv.summary(), "journal": journal, "pending": inv.pending})


def _method(req: Request, *allowed: str) -> None:
    if req.method not in allowed:
        raise HttpError(405, f"method {req.method} not allowed", {"allow": ", ".join(allowed)})
