"""Admin API (port 9070): deployments, services, invocations, state, health, OpenAPI.

Paths and status codes follow Restate's admin API where it has one (deployments,
``PATCH /invocations/{id}/cancel|kill|purge``); introspection that Restate does through SQL
(``GET /invocations``, ``GET /invocations/{id}``, state) is plain JSON here.
"""

from __future__ import annotations

from typing import Any

import orjson

import reference_ui

from .. import ids
from ..core.model import STATUSES, Inv, ServiceInfo, rfc3339
from ..registry import DiscoveryError
from ..runtime import Deployment, Runtime
from .asgi import HttpError, Request, Response, json_response
from .openapi import check_body, openapi_document

Json = Any
_TY = {"service": "Service", "object": "VirtualObject", "workflow": "Workflow"}
_HTY = {"exclusive": "Exclusive", "shared": "Shared", "workflow": "Workflow"}
_CONTROL = {
    "cancel": {"done": 200, "accepted": 202, "not_found": 404, "completed": 409},
    "kill": {"done": 200, "not_found": 404, "completed": 409},
    "purge": {"done": 200, "not_found": 404, "not_completed": 409},
}
_CONTROL_STATUS = {
    ("cancel", "done"): "cancelled",
    ("cancel", "accepted"): "cancel_requested",
    ("kill", "done"): "killed",
    ("purge", "done"): "purged",
}
_RETRY_NAMES = {
    "initial_interval_ms": "initial_interval_ms",
    "max_interval_ms": "max_interval_ms",
    "max_attempts": "max_attempts",
    "factor": "exponentiation_factor",
}


def _drop_none(d: dict[str, Json]) -> dict[str, Json]:
    return {k: v for k, v in d.items() if v is not None}


def _retry_json(fields: dict[str, Json] | None) -> dict[str, Json] | None:
    return {_RETRY_NAMES[k]: v for k, v in fields.items()} if fields else None


def service_json(svc: ServiceInfo) -> dict[str, Json]:
    """spec/schemas/admin/service.json"""
    manifest = svc.manifest if isinstance(svc.manifest, dict) else {}
    return _drop_none(
        {
            "name": svc.name,
            "ty": _TY[svc.ty],
            "deployment_id": svc.deployment_id,
            "revision": svc.revision,
            "public": not manifest.get("ingressPrivate", False),
            "documentation": manifest.get("documentation"),
            "retry_policy": _retry_json(svc.retry),
            "handlers": [
                _drop_none(
                    {
                        "name": h.name,
                        "ty": _HTY[h.ty],
                        "documentation": h.documentation,
                        "input_required": h.input_required,
                        "input_content_type": h.input_content_type,
                        "output_content_type": h.output_content_type,
                        "input_json_schema": h.input_schema,
                        "output_json_schema": h.output_schema,
                        "retry_policy": _retry_json(h.retry),
                    }
                )
                for h in svc.handlers.values()
            ],
        }
    )


class Admin:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, req: Request) -> Response:
        seg = req.segments
        head = seg[0] if seg else ""
        if seg == ["health"]:
            _method(req, "GET")
            return json_response({"status": "ok", "version": "0.1.0"})
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
        if req.method == "GET" and (asset := reference_ui.resolve(req.path)) is not None:
            return Response(asset.status, asset.body, asset.headers)
        raise HttpError(404, f"not found: {req.path}")

    async def _deployments(self, req: Request, rest: list[str]) -> Response:
        deps = self.runtime.deployments
        if not rest:
            _method(req, "GET", "POST")
            if req.method == "GET":
                return json_response(
                    {"deployments": [self._dep(d, with_headers=False) for d in deps.values()]}
                )
            body = await req.json()
            check_body(body, "admin/deployment-request.json")
            if not isinstance(body, dict) or not isinstance(body.get("uri"), str):
                raise HttpError(400, "expected a JSON object with a string 'uri'")
            headers = body.get("additional_headers") or {}
            if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise HttpError(400, "'additional_headers' must be an object of strings")
            try:
                created, dep = await self.runtime.register(
                    body["uri"], headers, force=body.get("force") is True, dry_run=body.get("dry_run") is True
                )
            except DiscoveryError as exc:
                raise HttpError(exc.status, str(exc)) from exc
            services = [s for s in self.runtime.engine.services.values() if s.deployment_id == dep.id]
            answer = {
                "id": dep.id,
                "services": [service_json(s) for s in services],
                "min_protocol_version": dep.manifest.get("minProtocolVersion"),
                "max_protocol_version": dep.manifest.get("maxProtocolVersion"),
            }
            return json_response(answer, 201 if created else 200, {"location": f"/deployments/{dep.id}"})
        if len(rest) == 1:
            _method(req, "GET")
            if rest[0] not in deps:
                raise HttpError(404, f"deployment {rest[0]} not found")
            return json_response(self._dep(deps[rest[0]]))
        raise HttpError(404, f"not found: {req.path}")

    def _dep(self, dep: Deployment, with_headers: bool = True) -> dict[str, Json]:
        """spec/schemas/admin/deployment.json"""
        services = [s for s in self.runtime.engine.services.values() if s.deployment_id == dep.id]
        out: dict[str, Json] = {
            "id": dep.id,
            "uri": dep.uri,
            "protocol_mode": dep.manifest.get("protocolMode", "REQUEST_RESPONSE"),
            "created_at": rfc3339(dep.created_at),
            "min_protocol_version": dep.manifest.get("minProtocolVersion"),
            "max_protocol_version": dep.manifest.get("maxProtocolVersion"),
            "services": [service_json(s) for s in services],
        }
        if dep.headers and with_headers:
            out["additional_headers"] = dep.headers
        return out

    async def _services(self, req: Request, rest: list[str]) -> Response:
        if len(rest) not in (0, 1, 3) or (len(rest) == 3 and rest[1] != "state"):
            raise HttpError(404, f"not found: {req.path}")
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
                {"service": svc.name, "key": rest[2], "state": {k: orjson.loads(v) for k, v in state.items()}}
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
        return json_response(
            {"invocation_id": inv_id, "status": _CONTROL_STATUS[(action, outcome)]},
            202 if deprecated else status,
        )

    async def _describe(self, inv_id: str) -> Response:
        inv = await self.runtime.lookup(inv_id)
        if inv is None:
            raise HttpError(404, f"invocation {inv_id} not found")
        entries = [orjson.loads(e) for e in await self.runtime.store.read_journal(inv_id, 0, inv.journal_length)]
        results = {
            e["completion_id"]: _result(e) for e in entries if e.get("type") == "completion"
        }
        journal = []
        for e in entries:
            kind = "notification" if e.get("type") in ("completion", "signal") else "command"
            view: dict[str, Json] = {"index": e["index"], "kind": kind, "type": e["type"], "entry": e}
            if isinstance(e.get("name"), str):
                view["name"] = e["name"]
            if kind == "command":
                cids = [e[f] for f in ("invocation_id_completion_id", "completion_id") if e.get(f)]
                if cids:
                    view["completion_ids"] = cids
                    main = e.get("completion_id") or cids[-1]
                    view["completed"] = main in results
                    if main in results:
                        view["result"] = results[main]
                elif e["type"] in ("output", "get_state"):
                    view["result"] = _result(e)
            else:
                view["result"] = _result(e)
            journal.append(view)
        return json_response({**inv.summary(), "journal": journal})


def _result(entry: dict[str, Json]) -> dict[str, Json]:
    for k in ("value", "value_bytes", "void", "failure", "invocation_id"):
        if k in entry:
            return {k: entry[k]}
    return {"void": True}


def _method(req: Request, *allowed: str) -> None:
    if req.method not in allowed:
        raise HttpError(405, f"method {req.method} not allowed", {"allow": ", ".join(allowed)})
