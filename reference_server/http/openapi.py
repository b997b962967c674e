"""OpenAPI 3.1 document for the ingress and admin APIs, generated from one route table.

If the normative ``spec/openapi.json`` exists in the source tree it is served as is; the
generated document is the fallback so that the endpoint always answers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from .asgi import HttpError

Json = Any

ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}
SEND = {
    "type": "object",
    "required": ["invocationId", "status"],
    "properties": {
        "invocationId": {"type": "string", "pattern": "^inv_"},
        "status": {"enum": ["Accepted", "PreviouslyAccepted"]},
        "executionTime": {"type": "string", "format": "date-time"},
    },
}
TARGET = {
    "oneOf": [
        {"type": "object", "required": ["target", "workflowName", "workflowKey"],
         "properties": {"target": {"const": "workflow"}, "workflowName": {"type": "string"},
                        "workflowKey": {"type": "string"}}},
        {"type": "object", "required": ["target", "service", "handler", "idempotencyKey"],
         "properties": {"target": {"const": "idempotentInvocation"}, "service": {"type": "string"},
                        "key": {"type": "string"}, "handler": {"type": "string"},
                        "idempotencyKey": {"type": "string"}}},
        {"type": "object", "required": ["target", "invocationId"],
         "properties": {"target": {"const": "invocation"}, "invocationId": {"type": "string"}}},
    ]
}

# (api, method, path, summary, success status, request schema, response schema, error statuses)
ROUTES: list[tuple[str, str, str, str, str, Json, Json, tuple[str, ...]]] = [
    ("ingress", "post", "/restate/call/{service}/{handler}", "Call a service handler and wait for its result", "200", {}, {}, ("400", "404", "405", "413", "415")),
    ("ingress", "post", "/restate/call/{service}/{key}/{handler}", "Call a virtual object or workflow handler", "200", {}, {}, ("400", "404", "405", "409", "413", "415")),
    ("ingress", "post", "/restate/send/{service}/{handler}", "Send (one-way); ?delay= schedules it", "202", {}, SEND, ("400", "404", "413", "415")),
    ("ingress", "post", "/restate/send/{service}/{key}/{handler}", "Send to a keyed handler; ?delay= schedules it", "202", {}, SEND, ("400", "404", "413", "415")),
    ("ingress", "get", "/restate/attach/{invocationId}", "Wait for an invocation's result", "200", None, {}, ("400", "404")),
    ("ingress", "get", "/restate/output/{invocationId}", "Get an invocation's result if finished", "200", None, {}, ("400", "404", "470")),
    ("ingress", "post", "/restate/attach", "Wait for the result of a target", "200", TARGET, {}, ("400", "404")),
    ("ingress", "post", "/restate/output", "Get the result of a target if finished", "200", TARGET, {}, ("400", "404", "470")),
    ("ingress", "post", "/restate/awakeables/{awakeableId}/resolve", "Resolve an awakeable", "202", {}, None, ("400",)),
    ("ingress", "post", "/restate/awakeables/{awakeableId}/reject", "Reject an awakeable", "202", {"type": "string"}, None, ("400",)),
    ("ingress", "get", "/restate/health", "Ingress health", "200", None, {"type": "object"}, ()),
    ("admin", "get", "/health", "Admin health", "200", None, {"type": "object"}, ()),
    ("admin", "post", "/deployments", "Register a deployment (discovery)", "201",
     {"type": "object", "required": ["uri"], "properties": {"uri": {"type": "string"}}}, {"type": "object"}, ("400", "415")),
    ("admin", "get", "/deployments", "List deployments", "200", None, {"type": "object"}, ()),
    ("admin", "get", "/deployments/{deploymentId}", "Describe a deployment", "200", None, {"type": "object"}, ("404",)),
    ("admin", "get", "/services", "List services", "200", None, {"type": "object"}, ()),
    ("admin", "get", "/services/{service}", "Describe a service", "200", None, {"type": "object"}, ("404",)),
    ("admin", "get", "/services/{service}/state/{key}", "State of a virtual object or workflow", "200", None, {"type": "object"}, ("400", "404")),
    ("admin", "get", "/invocations", "List invocations (?status=&service=&key=&limit=)", "200", None, {"type": "object"}, ("400",)),
    ("admin", "get", "/invocations/{invocationId}", "Describe an invocation with its journal", "200", None, {"type": "object"}, ("400", "404")),
    ("admin", "patch", "/invocations/{invocationId}/cancel", "Cancel (202 when signalled, 200 when it never started)", "200", None, {"type": "object"}, ("404", "409")),
    ("admin", "patch", "/invocations/{invocationId}/kill", "Kill now (no compensation)", "200", None, {"type": "object"}, ("404", "409")),
    ("admin", "patch", "/invocations/{invocationId}/purge", "Forget a completed invocation", "200", None, {"type": "object"}, ("404", "409")),
    ("admin", "get", "/openapi.json", "This document", "200", None, {"type": "object"}, ()),
]


SCHEMAS = Path(__file__).resolve().parents[2] / "spec" / "schemas"


@lru_cache(maxsize=32)
def _validator(name: str) -> Any:
    path = SCHEMAS / name
    if not path.is_file():
        return None
    return jsonschema.Draft202012Validator(orjson.loads(path.read_bytes()))


def check_body(body: Json, schema: str) -> None:
    """400 unless ``body`` validates against ``spec/schemas/<schema>`` (when the spec is present)."""
    validator = _validator(schema)
    if validator is None:
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise HttpError(400, f"invalid request body at {where}: {error.message}")


@lru_cache(maxsize=1)
def openapi_document() -> Json:
    spec = Path(__file__).resolve().parents[2] / "spec" / "openapi.json"
    if spec.is_file():
        try:
            return orjson.loads(spec.read_bytes())
        except orjson.JSONDecodeError:
            pass
    paths: dict[str, Json] = {}
    for api, method, path, summary, ok, request, response, errors in ROUTES:
        op: dict[str, Json] = {
            "summary": summary,
            "tags": [api],
            "servers": [{"url": "http://127.0.0.1:8080" if api == "ingress" else "http://127.0.0.1:9070"}],
            "parameters": [
                {"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                for p in path.split("/")
                if p.startswith("{")
            ],
            "responses": {
                ok: {"description": "success", **({"content": {"application/json": {"schema": response}}} if response is not None else {})},
                **{e: {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}} for e in errors},
            },
        }
        if request is not None:
            op["requestBody"] = {"content": {"application/json": {"schema": request}}}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "durable reference server (ingress + admin)", "version": "1"},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR}},
    }
