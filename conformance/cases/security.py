"""Security basics: private handlers, hostile paths and ids, bad input never crashes the server."""

from __future__ import annotations

from ..context import CaseContext
from ..model import Strength
from ..registry import case


@case("SEC-001", "an ingress-private service is refused at the ingress", requirements=["ING-PRIVATE-1", "TS-PRIVATE-1"],
      capabilities=["ingress.private_handlers"])
async def private(t: CaseContext) -> None:
    r = await t.call("PrivateService", "secret")
    t.must(400 <= r.status_code < 500, f"status {r.status_code}")
    t.must("secret" not in r.text or r.status_code >= 400, "the private handler answered")


@case("SEC-002", "a private service can still be called from a handler", requirements=["ING-PRIVATE-1", "TS-PRIVATE-1"],
      capabilities=["ingress.private_handlers"])
async def private_internal(t: CaseContext) -> None:
    out = await t.call_ok("Proxy", "call", {"service": "PrivateService", "handler": "secret", "input": None})
    t.must_eq(out, "secret", "internal call output")


@case("SEC-003", "path traversal in a key stays a key", requirements=["ING-KEY-1"])
async def traversal(t: CaseContext) -> None:
    key = "../../admin/" + t.uid()
    await t.call_ok("Counter", "add", 3, key=key)
    t.must_eq(await t.call_ok("Counter", "get", key=key), 3, "counter of the odd key")


@case("SEC-004", "a malformed invocation id is refused with 4xx", requirements=["ING-ERR-400"])
async def bad_id(t: CaseContext) -> None:
    r = await t.attach("inv_%00not-an-id")
    t.must(400 <= r.status_code < 500, f"status {r.status_code}")


@case("SEC-005", "malformed JSON input is refused with 400 before the handler runs", requirements=["ING-ERR-400", "ING-VALID-1"],
      strength=Strength.SHOULD, capabilities=["ingress.input_validation"])
async def malformed_json(t: CaseContext) -> None:
    r = await t.http.post(f"{t.target.ingress}/restate/call/Counter/{t.uid()}/add", content=b"{not json",
                          headers={"content-type": "application/json"})
    t.must_eq(r.status_code, 400, "status for malformed JSON")


@case("SEC-006", "malformed JSON to a workflow's run does not burn the key", requirements=["ING-VALID-2", "ING-WF-1"],
      strength=Strength.SHOULD, capabilities=["workflows", "ingress.input_validation"])
async def workflow_key_not_burnt(t: CaseContext) -> None:
    key = t.uid()
    await t.http.post(f"{t.target.ingress}/restate/call/PromiseWorkflow/{key}/run", content=b"{not json",
                      headers={"content-type": "application/json"})
    r = await t.call("PromiseWorkflow", "run", {"await": []}, key=key)
    t.must_eq(r.status_code, 200, "corrected resubmission after malformed input")
    t.must_eq(r.json(), [], "output of the corrected resubmission")


@case("SEC-007", "a header-injection attempt in a key does not split the request", requirements=["ING-KEY-1"])
async def header_injection(t: CaseContext) -> None:
    key = f"{t.uid()}\r\nx-evil: 1"
    await t.call_ok("Counter", "add", 1, key=key)
    t.must_eq(await t.call_ok("Counter", "get", key=key), 1, "counter")


@case("SEC-008", "registering a non-HTTP deployment URI is refused", requirements=["ADM-DEP-3"])
async def bad_uri(t: CaseContext) -> None:
    r = await t.admin_post("/deployments", {"uri": "file:///etc/passwd"})
    t.must(400 <= r.status_code < 500, f"status {r.status_code}")
