"""Admin API edge cases: error bodies, kill/cancel/purge status codes, state, listing, dry runs."""

from __future__ import annotations

import asyncio

from ..context import CaseContext
from ..registry import case


@case("ADM-009", "an unknown admin path answers 404", requirements=["ADM-GEN-4"])
async def unknown_path(t: CaseContext) -> None:
    t.must_eq((await t.admin_get("/no/such/path")).status_code, 404, "status")


@case("ADM-010", "admin error bodies carry a code equal to the HTTP status", requirements=["ADM-GEN-2"])
async def error_body(t: CaseContext) -> None:
    r = await t.admin_get("/services/NoSuchService")
    t.must_eq(r.status_code, 404, "status")
    t.must_eq(r.json().get("code"), 404, "body code")


@case("ADM-011", "kill of a completed invocation answers 409, of an unknown one 404", requirements=["ADM-KILL-2"],
      capabilities=["admin.kill"])
async def kill_codes(t: CaseContext) -> None:
    inv = await t.send_ok("TestUtilsService", "echo", 1, idempotency_key=t.uid("ik"))
    await t.attach(inv)
    t.must_eq((await t.kill(inv)).status_code, 409, "kill of a completed invocation")
    bogus = await t.send_ok("TestUtilsService", "echo", 2)
    await t.attach(bogus)
    unknown = bogus[:-4] + ("AAAA" if not bogus.endswith("AAAA") else "BBBB")
    t.must((await t.kill(unknown)).status_code in (404,), "kill of an unknown invocation must be 404")


@case("ADM-012", "a repeated cancel answers 202 again", requirements=["ADM-CANCEL-4"], capabilities=["admin.cancel"])
async def cancel_twice(t: CaseContext) -> None:
    # the catch keeps the invocation running for 10 s after the first cancel, so the second one
    # finds it running even when each admin request takes seconds on a loaded machine
    inv = await t.send_ok("Interpreter", "run", {"commands": [
        {"op": "try", "body": [{"op": "sleep", "ms": 60000}], "catch": [{"op": "sleep", "ms": 10000}]}]},
        key=t.uid(), idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    r1 = await t.cancel(inv)
    r2 = await t.cancel(inv)
    t.must_eq((r1.status_code, r2.status_code), (202, 202), "cancel statuses")
    await t.attach(inv)


@case("ADM-013", "a malformed JSON registration body answers 400", requirements=["ADM-GEN-3"])
async def bad_json(t: CaseContext) -> None:
    r = await t.http.post(f"{t.target.admin}/deployments", content=b"{nope", headers={"content-type": "application/json"})
    t.must_eq(r.status_code, 400, "status")


@case("ADM-014", "the state of an object key can be read through the admin API", requirements=["ADM-STATE-1"],
      capabilities=["admin.state"])
async def state_read(t: CaseContext) -> None:
    key = t.uid()
    await t.call_ok("Counter", "add", 3, key=key)
    r = await t.admin_get(f"/services/Counter/state/{key}")
    t.must_eq(r.status_code, 200, "status")
    body = r.json()
    t.must_eq((body.get("service"), body.get("key")), ("Counter", key), "service and key")
    t.must_eq(body.get("state", {}).get("counter"), {"value": 3}, "state entry")


@case("ADM-015", "a malformed invocation id answers 400 on the admin API", requirements=["ADM-INV-6"],
      capabilities=["admin.get_invocation"])
async def bad_invocation_id(t: CaseContext) -> None:
    t.must_eq((await t.admin_get("/invocations/not-an-id")).status_code, 400, "status")


@case("ADM-016", "GET /invocations filters by service and key", requirements=["ADM-INV-2"],
      capabilities=["admin.list_invocations"])
async def list_invocations(t: CaseContext) -> None:
    key = t.uid()
    await t.call_ok("Counter", "add", 1, key=key)
    r = await t.http.get(f"{t.target.admin}/invocations", params={"service": "Counter", "key": key})
    t.must_eq(r.status_code, 200, "status")
    items = r.json().get("invocations", [])
    t.must(len(items) == 1, f"expected exactly one invocation for the key, got {len(items)}")


@case("ADM-017", "purge: 409 while running, 200 once completed, then the result is gone", requirements=["ADM-PURGE-1", "ADM-PURGE-2"],
      capabilities=["admin.purge"])
async def purge(t: CaseContext) -> None:
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 3000}]}, key=t.uid(),
                          idempotency_key=t.uid("ik"))
    r = await t.http.patch(f"{t.target.admin}/invocations/{inv}/purge")
    t.must_eq(r.status_code, 409, "purge while running")
    await t.attach(inv)
    r = await t.http.patch(f"{t.target.admin}/invocations/{inv}/purge")
    t.must_eq(r.status_code, 200, "purge once completed")

    async def out() -> int:
        return int((await t.output(inv)).status_code)

    await t.eventually(out, lambda s: s == 404, 10, "output of a purged invocation is 404")


@case("ADM-018", "GET /openapi.json answers the OpenAPI document", requirements=["ADM-GEN-5"],
      capabilities=["admin.openapi"])
async def openapi(t: CaseContext) -> None:
    r = await t.admin_get("/openapi.json")
    t.must_eq(r.status_code, 200, "status")
    t.must(str(r.json().get("openapi", "")).startswith("3.1"), f"openapi version {r.text[:80]}")


@case("ADM-019", "a dry-run registration stores nothing", requirements=["ADM-DEP-6"])
async def dry_run(t: CaseContext) -> None:
    if not t.target.services:
        raise t.skip("services URL unknown")
    before = (await t.admin_get("/deployments")).json().get("deployments", [])
    r = await t.admin_post("/deployments", {"uri": t.target.services, "dry_run": True, "force": True})
    t.must(r.status_code in (200, 201), f"status {r.status_code} {r.text[:200]}")
    after = (await t.admin_get("/deployments")).json().get("deployments", [])
    t.must_eq(len(after), len(before), "number of deployments after a dry run")


@case("ADM-020", "completing a promise twice fails with 409", requirements=["ERR-CODE-4", "JRN-PROMISE-4"],
      capabilities=["workflows"])
async def promise_twice_code(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": ["p"]}, key=key)
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "p", "value": 1}, key=key)
    r = await t.call("PromiseWorkflow", "resolve", {"name": "p", "value": 2}, key=key)
    t.must_eq(r.status_code, 409, "status of the second resolution")
    await t.attach(inv)


_RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)$"


@case("ADM-021", "points in time in admin bodies are RFC 3339 strings in UTC", requirements=["VER-NUM-2"],
      capabilities=["admin.get_invocation"])
async def rfc3339_times(t: CaseContext) -> None:
    import re
    import time

    before = time.time()
    inv = await t.send_ok("TestUtilsService", "echo", "t", idempotency_key=t.uid("ik"))
    await t.attach(inv)
    doc = (await t.admin_get(f"/invocations/{inv}")).json()
    stamps = {k: doc.get(k) for k in ("created_at", "modified_at", "completed_at")}
    deps = (await t.admin_get("/deployments")).json()
    items = deps.get("deployments", deps) if isinstance(deps, dict) else deps
    if isinstance(items, list) and items:
        stamps["deployment created_at"] = items[0].get("created_at")
    for what, v in stamps.items():
        t.must(isinstance(v, str) and re.match(_RFC3339_UTC, v), f"{what} is {v!r}, not an RFC 3339 time in UTC")
    from datetime import datetime

    created = datetime.fromisoformat(str(stamps["created_at"]).replace("Z", "+00:00")).timestamp()
    t.must(before - 120 <= created <= time.time() + 120,
           f"created_at {stamps['created_at']} is not the time of the request (UTC) within two minutes")


@case("ADM-022", "admin answers with a body are application/json and validate against their schemas",
      requirements=["ADM-GEN-1", "ADM-GEN-2"],
      capabilities=["admin.get_invocation", "admin.state", "admin.list_invocations", "admin.kill"])
async def admin_schemas(t: CaseContext) -> None:
    from durable.protocol.schemas import SchemaValidationError, validate_body

    key = t.uid()
    await t.call_ok("Counter", "add", 1, key=key)
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 60000}]}, key=t.uid())
    deps = await t.admin_get("/deployments")
    items = deps.json().get("deployments") if deps.status_code == 200 and isinstance(deps.json(), dict) else None
    t.must(isinstance(items, list) and items, f"GET /deployments: {deps.status_code} {deps.text[:200]}")
    assert isinstance(items, list)
    await asyncio.sleep(0.3)
    checks = [
        ("GET /health", await t.admin_get("/health"), "admin/health-response"),
        ("GET /deployments", deps, "admin/deployment-list"),
        ("GET /deployments/{id}", await t.admin_get(f"/deployments/{items[0].get('id')}"), "admin/deployment"),
        ("GET /services", await t.admin_get("/services"), "admin/service-list"),
        ("GET /services/Counter", await t.admin_get("/services/Counter"), "admin/service"),
        ("GET /services/Counter/state/{key}", await t.admin_get(f"/services/Counter/state/{key}"),
         "admin/state-response"),
        ("GET /invocations?service=Counter", await t.admin_get("/invocations?service=Counter&limit=5"),
         "admin/invocation-list"),
        ("GET /invocations/{id}", await t.admin_get(f"/invocations/{inv}"), "admin/invocation"),
        ("PATCH /invocations/{id}/kill", await t.kill(inv), "admin/kill-response"),
        ("GET /services/NoSuchService (404)", await t.admin_get("/services/NoSuchService"), "error"),
    ]
    for what, r, schema in checks:
        ct = r.headers.get("content-type", "").split(";")[0].strip().lower()
        t.must_eq(ct, "application/json", f"content-type of {what} ({r.status_code})")
        try:
            validate_body(schema, r.json())
        except (SchemaValidationError, ValueError) as exc:
            errors = getattr(exc, "errors", [str(exc)])
            raise t.fail(f"{what} ({r.status_code}) breaks schemas/{schema}.json: {errors[:3]}") from exc
