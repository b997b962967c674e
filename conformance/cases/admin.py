"""Admin API basics: health, deployments, services, invocation introspection (spec/06)."""

from __future__ import annotations

from ..context import CaseContext
from ..model import Strength
from ..registry import case


@case("ADM-001", "GET /health answers 200", requirements=["ADM-HEALTH-1"])
async def health(t: CaseContext) -> None:
    t.must_eq((await t.admin_get("/health")).status_code, 200, "admin health")


@case("ADM-002", "GET /deployments lists the registered test services deployment", requirements=["ADM-DEP-1"])
async def deployments(t: CaseContext) -> None:
    r = await t.admin_get("/deployments")
    t.must_eq(r.status_code, 200, "status")
    deps = r.json().get("deployments", [])
    t.must(isinstance(deps, list) and deps, f"no deployments: {r.text[:300]}")
    t.must(all(str(d.get("id", "")).startswith("dp_") for d in deps), "deployment ids must start with dp_")


@case("ADM-003", "GET /services lists the contract's services with their types", requirements=["ADM-SVC-1", "DISC-1", "TS-GEN-1"])
async def services(t: CaseContext) -> None:
    r = await t.admin_get("/services")
    t.must_eq(r.status_code, 200, "status")
    svcs = {s.get("name"): s for s in r.json().get("services", [])}
    for name, ty in [("Counter", "VirtualObject"), ("Proxy", "Service"), ("BlockAndWaitWorkflow", "Workflow")]:
        t.must(name in svcs, f"{name} not listed")
        t.must_eq(svcs[name].get("ty"), ty, f"{name} type")


@case("ADM-004", "re-registering the same deployment is accepted", requirements=["ADM-DEP-2"])
async def reregister(t: CaseContext) -> None:
    if not t.target.services:
        raise t.skip("services URL unknown")
    r = await t.admin_post("/deployments", {"uri": t.target.services, "force": True})
    t.must(r.status_code in (200, 201), f"status {r.status_code} {r.text[:300]}")
    t.must(str(r.json().get("id", "")).startswith("dp_"), f"id {r.text[:200]}")


@case("ADM-005", "GET /services/{name} describes one service's handlers", requirements=["ADM-SVC-1"])
async def one_service(t: CaseContext) -> None:
    r = await t.admin_get("/services/Counter")
    t.must_eq(r.status_code, 200, "status")
    names = {h.get("name") for h in r.json().get("handlers", [])}
    t.must({"add", "get", "addThenFail", "reset"} <= names, f"handlers {names}")


@case("ADM-006", "GET /invocations/{id} reports a completed invocation", requirements=["ADM-INV-1", "TS-CAP-1"],
      capabilities=["admin.get_invocation"])
async def invocation(t: CaseContext) -> None:
    inv = await t.send_ok("TestUtilsService", "echo", 1, idempotency_key=t.uid("ik"))
    await t.attach(inv)
    r = await t.admin_get(f"/invocations/{inv}")
    t.must_eq(r.status_code, 200, "status")
    t.must(str(r.json().get("status", "")).lower() == "completed", f"status field {r.text[:300]}")


@case("ADM-007", "the ingress health endpoint answers 200", requirements=["ING-HEALTH-1"], strength=Strength.SHOULD)
async def ingress_health(t: CaseContext) -> None:
    r = await t.http.get(f"{t.target.ingress}/restate/health")
    t.must_eq(r.status_code, 200, "ingress health")


@case("ADM-008", "GET /services/{unknown} answers 404", requirements=["ADM-SVC-2"])
async def unknown_service(t: CaseContext) -> None:
    t.must_eq((await t.admin_get("/services/NoSuchService")).status_code, 404, "status")
