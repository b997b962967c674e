"""Ingress edge cases: input checks, delays, idempotency with differing bodies, workflow targets."""

from __future__ import annotations

import asyncio

import httpx

from ..context import CaseContext
from ..registry import case

VALID = ["ingress.input_validation"]


@case("ING-021", "an empty body for a handler that requires input is answered 400", requirements=["ING-VALID-5"],
      capabilities=VALID)
async def empty_required(t: CaseContext) -> None:
    r = await t.http.post(f"{t.target.ingress}/restate/call/Counter/{t.uid()}/add")
    t.must_eq(r.status_code, 400, "status")


@case("ING-022", "a content type the handler does not accept is answered 415", requirements=["ING-VALID-6"],
      capabilities=VALID)
async def wrong_content_type(t: CaseContext) -> None:
    r = await t.http.post(f"{t.target.ingress}/restate/call/Counter/{t.uid()}/add", content=b"1",
                          headers={"content-type": "application/xml"})
    t.must_eq(r.status_code, 415, "status")


@case("ING-023", "a JSON body that breaks the handler's input schema is answered 400", requirements=["ING-VALID-4"],
      capabilities=VALID)
async def schema_invalid(t: CaseContext) -> None:
    key = t.uid()
    r = await t.call("Counter", "add", "not-a-number", key=key)
    t.must_eq(r.status_code, 400, "status")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 0, "nothing ran")


@case("ING-024", "an unparsable delay is answered 400 and nothing runs", requirements=["ING-DELAY-4"],
      capabilities=["ingress.delayed_send"])
async def bad_delay(t: CaseContext) -> None:
    key = t.uid()
    r = await t.send("Counter", "add", 1, key=key, delay="soon")
    t.must_eq(r.status_code, 400, "status")
    await asyncio.sleep(0.3)
    t.must_eq(await t.call_ok("Counter", "get", key=key), 0, "counter")


@case("ING-025", "a delayed send to a workflow's run uses up the key at acceptance", requirements=["ING-DELAY-6"],
      capabilities=["ingress.delayed_send", "workflows"])
async def delayed_workflow(t: CaseContext) -> None:
    key = t.uid()
    r1 = await t.send("PromiseWorkflow", "run", {"await": []}, key=key, delay="1s")
    t.must_eq(r1.status_code, 202, f"delayed send status ({r1.text[:200]})")
    r2 = await t.send("PromiseWorkflow", "run", {"await": []}, key=key)
    t.must_eq((r2.status_code, r2.json().get("status")), (202, "PreviouslyAccepted"), "second submission")


@case("ING-026", "a duplicate idempotent request with another body resolves to the first invocation",
      requirements=["ING-IDEMP-6"])
async def duplicate_other_body(t: CaseContext) -> None:
    key, ik = t.uid(), t.uid("ik")
    a = await t.call_ok("Counter", "add", 1, key=key, idempotency_key=ik)
    b = await t.call_ok("Counter", "add", 5, key=key, idempotency_key=ik)
    t.must_eq(b, a, "answer to the duplicate with another body")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 1, "counter")


@case("ING-027", "an idempotency key on a workflow's run is answered 400", requirements=["ING-IDEMP-7"],
      capabilities=["workflows"])
async def idempotent_workflow(t: CaseContext) -> None:
    r = await t.send("PromiseWorkflow", "run", {"await": []}, key=t.uid(), idempotency_key=t.uid("ik"))
    t.must_eq(r.status_code, 400, "status")


@case("ING-028", "a workflow's shared handler is callable before its run is submitted", requirements=["ING-WF-4"],
      capabilities=["workflows"])
async def shared_before_run(t: CaseContext) -> None:
    key = t.uid()
    r = await t.call("BlockAndWaitWorkflow", "getState", key=key)
    t.must_eq(r.status_code, 200, "status")
    t.must(not r.content or r.json() is None, f"state of an unsubmitted workflow: {r.text[:100]}")
    await t.send_ok("BlockAndWaitWorkflow", "run", "later", key=key)

    async def st() -> object:
        return await t.call_ok("BlockAndWaitWorkflow", "getState", key=key)

    await t.eventually(st, lambda v: v == "later", 10, "state once the run was submitted")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "x", key=key)


@case("ING-029", "attach with a target body that breaks the schema is answered 400", requirements=["ING-ATTACH-4"])
async def bad_target(t: CaseContext) -> None:
    r = await t.attach_target({"target": "nonsense", "x": 1})
    t.must_eq(r.status_code, 400, "status")


@case("ING-030", "attach to a workflow whose run was never submitted is answered 404", requirements=["ING-ATTACH-7"],
      capabilities=["workflows"])
async def attach_unsubmitted(t: CaseContext) -> None:
    r = await t.attach_target({"target": "workflow", "workflowName": "BlockAndWaitWorkflow", "workflowKey": t.uid()})
    t.must_eq(r.status_code, 404, "status")


@case("ING-031", "a cancelled invocation is answered 409 'cancelled', a killed one 409 'killed'", requirements=["ING-ERR-4"],
      capabilities=["admin.cancel", "admin.kill"])
async def cancelled_killed_messages(t: CaseContext) -> None:
    prog = {"commands": [{"op": "sleep", "ms": 60000}]}
    c = await t.send_ok("Interpreter", "run", prog, key=t.uid(), idempotency_key=t.uid("ik"))
    k = await t.send_ok("Interpreter", "run", prog, key=t.uid(), idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    await t.cancel(c)
    await t.kill(k)
    rc, rk = await t.attach(c), await t.attach(k)
    t.must_eq((rc.status_code, rk.status_code), (409, 409), "statuses")
    t.must_eq(rc.json().get("message"), "cancelled", "message of the cancelled invocation")
    t.must_eq(rk.json().get("message"), "killed", "message of the killed invocation")


@case("ING-032", "an invocation continues when the calling client disconnects", requirements=["ING-CALL-5"])
async def client_disconnect(t: CaseContext) -> None:
    key, ik = t.uid(), t.uid("ik")
    prog = {"commands": [{"op": "sleep", "ms": 1500}, {"op": "increment", "key": "n"}]}
    try:  # the request is sent in full; the client gives up while waiting for the answer
        await t.call("Interpreter", "run", prog, key=key, idempotency_key=ik, timeout=httpx.Timeout(10.0, read=0.5))
        raise t.fail("the call answered before the handler's 1.5 s sleep")
    except httpx.ReadTimeout:
        pass
    r = await t.attach_target({"target": "idempotentInvocation", "service": "Interpreter", "key": key, "handler": "run",
                               "idempotencyKey": ik})
    t.must_eq((r.status_code, r.json()), (200, [None, 1]), "attach after the disconnect")


@case("ING-033", "a failure code outside 400..599 is answered as HTTP 500 with the code in the body",
      requirements=["ING-CALL-4", "ERR-BODY-1"])
async def odd_code(t: CaseContext) -> None:
    r = await t.call("Failing", "terminallyFailingCall", {"errorMessage": "odd", "code": 600}, key=t.uid())
    t.must_eq(r.status_code, 500, "HTTP status")
    t.must_eq(r.json().get("code"), 600, "body code")


@case("ING-034", "JSON that does not parse is 400 before acceptance: nothing stored, no idempotency key or workflow "
      "key used up", requirements=["ING-VALID-3", "ING-ERR-3", "ING-WF-3"],
      capabilities=["ingress.input_validation", "workflows"])
async def malformed_json_changes_nothing(t: CaseContext) -> None:
    key, ik, wf = t.uid(), t.uid("ik"), t.uid()
    bad = {"content-type": "application/json", "idempotency-key": ik}
    r = await t.http.post(f"{t.target.ingress}/restate/send/Counter/{key}/add", content=b"[1,", headers=bad)
    t.must_eq(r.status_code, 400, f"status of a send with a body that is not JSON ({r.text[:200]})")
    r = await t.http.post(f"{t.target.ingress}/restate/call/Counter/{key}/add", content=b"{not json", headers=bad)
    t.must_eq(r.status_code, 400, f"status of a call with a body that is not JSON ({r.text[:200]})")
    r = await t.http.post(f"{t.target.ingress}/restate/send/PromiseWorkflow/{wf}/run", content=b"{\"await\":",
                          headers={"content-type": "application/json"})
    t.must_eq(r.status_code, 400, f"status of a workflow run with a body that is not JSON ({r.text[:200]})")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 0, "the counter after the refused requests (ING-ERR-3)")
    again = await t.send("Counter", "add", 5, key=key, idempotency_key=ik)
    t.must_eq((again.status_code, again.json().get("status")), (202, "Accepted"),
              "a valid send reusing the refused request's idempotency key is a new invocation")
    r = await t.call("PromiseWorkflow", "run", {"await": []}, key=wf)
    t.must_eq((r.status_code, r.json() if r.content else None), (200, []),
              "a corrected run for the workflow key the refused request named (ING-WF-3)")


@case("ING-035", "every path of the ingress table is served (POST on call and send paths)",
      requirements=["ING-PATH-1", "ING-PATH-2"],
      capabilities=["ingress.legacy_paths", "ingress.awakeables", "workflows"], timeout_s=60)
async def every_path(t: CaseContext) -> None:
    import json
    from urllib.parse import quote

    base = t.target.ingress
    key, wf, ik, holder1, holder2 = t.uid(), t.uid(), t.uid("ik"), t.uid("h"), t.uid("h")

    async def req(method: str, path: str, want: set[int], body: object = None, headers: dict[str, str] | None = None,
                  value: object = ..., raw: bytes | None = None) -> httpx.Response:
        content = raw if raw is not None else None if body is None else json.dumps(body).encode()
        hs = dict(headers or {})
        if content is not None:
            hs.setdefault("content-type", "application/json")
        r = await t.http.request(method, f"{base}{path}", content=content, headers=hs, timeout=20)
        t.must(r.status_code in want, f"{method} {path}: expected {sorted(want)}, got {r.status_code} ({r.text[:200]})")
        if value is not ...:
            t.must_eq(r.json(), value, f"answer of {method} {path}")
        return r

    ok, accepted = {200}, {202}
    await req("POST", "/restate/call/TestUtilsService/echo", ok, "a", value="a")
    await req("POST", f"/restate/call/Counter/{key}/add", ok, 1)
    sent = (await req("POST", "/restate/send/TestUtilsService/echo", accepted, "s", {"idempotency-key": ik})).json()
    inv = quote(str(sent.get("invocationId")), safe="")
    await req("POST", f"/restate/send/Counter/{key}/add", accepted, 1)
    await req("POST", "/TestUtilsService/echo", ok, "b", value="b")
    await req("POST", f"/Counter/{key}/add", ok, 1)
    await req("POST", "/TestUtilsService/echo/send", accepted, "c")
    await req("POST", f"/Counter/{key}/add/send", accepted, 1)
    await req("GET", f"/restate/attach/{inv}", ok, value="s")
    await req("GET", f"/restate/output/{inv}", ok, value="s")
    target = {"target": "invocation", "invocationId": sent.get("invocationId")}
    await req("POST", "/restate/attach", ok, target, value="s")
    await req("POST", "/restate/output", ok, target, value="s")
    await req("GET", f"/restate/invocation/{inv}/attach", ok, value="s")
    await req("GET", f"/restate/invocation/{inv}/output", ok, value="s")
    await req("GET", f"/restate/invocation/TestUtilsService/echo/{ik}/attach", ok, value="s")
    await req("GET", f"/restate/invocation/TestUtilsService/echo/{ik}/output", ok, value="s")
    await req("POST", f"/restate/call/PromiseWorkflow/{wf}/run", ok, {"await": []}, value=[])
    await req("GET", f"/restate/workflow/PromiseWorkflow/{wf}/attach", ok, value=[])
    await req("GET", f"/restate/workflow/PromiseWorkflow/{wf}/output", ok, value=[])
    ik2 = t.uid("ik")
    await req("POST", f"/restate/call/Counter/{key}/add", ok, 0, {"idempotency-key": ik2})
    await req("GET", f"/restate/invocation/Counter/{key}/add/{ik2}/output", ok)
    await t.send_ok("Interpreter", "run", {"commands": [{"op": "awakeable", "holder": holder1},
                                                        {"op": "awakeable", "holder": holder2}]},
                    key=t.uid(), idempotency_key=t.uid("ik"))
    done = {200, 202, 204}
    aid = quote(await t.wait_awakeable(holder1), safe="")
    await req("POST", f"/restate/awakeables/{aid}/resolve", done, "r1")
    aid = quote(await t.wait_awakeable(holder2), safe="")
    await req("POST", f"/restate/awakeables/{aid}/reject", done, raw=b"nope", headers={"content-type": "text/plain"})
    await req("GET", "/restate/health", ok)
