"""Durable promises (workflows), awakeables and signals (spec/03 promises, awakeables)."""

from __future__ import annotations

import asyncio

from ..context import CaseContext
from ..registry import case

WF = ["workflows"]


@case("PRM-001", "a workflow blocked on a promise completes when a shared handler resolves it",
      requirements=["JRN-PROMISE-1", "TS-BAW-1"], capabilities=WF)
async def baw(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("BlockAndWaitWorkflow", "run", "input", key=key)

    async def state() -> object:
        return await t.call_ok("BlockAndWaitWorkflow", "getState", key=key)

    await t.eventually(state, lambda v: v == "input", 10, "workflow state 'input'")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "unblocked", key=key)
    r = await t.attach(inv)
    t.must_eq(r.status_code, 200, "attach")
    t.must_eq(r.json(), "unblocked", "workflow output")


@case("PRM-002", "a promise resolved before anyone waits is seen by the later wait",
      requirements=["JRN-PROMISE-2", "TS-PROMISE-1"], capabilities=WF)
async def resolve_first(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"sleepMs": 800, "await": ["p"]}, key=key)
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "p", "value": 42}, key=key)
    r = await t.attach(inv)
    t.must_eq(r.json(), [42], "output")


@case("PRM-003", "a rejected promise fails the waiting workflow with its message",
      requirements=["JRN-PROMISE-3", "ERR-TERM-4", "TS-PROMISE-1"], capabilities=WF)
async def reject(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": ["p"]}, key=key)
    await t.call_ok("PromiseWorkflow", "reject", {"name": "p", "message": "promise-says-no"}, key=key)
    r = await t.attach(inv)
    t.must(r.status_code >= 400, f"attach status {r.status_code}")
    t.must("promise-says-no" in r.text, f"rejection message lost: {r.text}")


@case("PRM-004", "resolving a promise twice fails the second resolution", requirements=["JRN-PROMISE-4", "TS-PROMISE-1"], capabilities=WF)
async def double_resolve(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": ["p"]}, key=key)
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "p", "value": 1}, key=key)
    r = await t.call("PromiseWorkflow", "resolve", {"name": "p", "value": 2}, key=key)
    t.must(r.status_code >= 400, f"second resolve answered {r.status_code}")
    t.must_eq((await t.attach(inv)).json(), [1], "the first value wins")


@case("PRM-005", "peek returns empty before and the value after resolution", requirements=["JRN-PROMISE-5", "TS-PROMISE-1"], capabilities=WF)
async def peek(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": ["p"]}, key=key)
    t.must_eq(await t.call_ok("PromiseWorkflow", "peek", "p", key=key), None, "peek before")
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "p", "value": "v"}, key=key)
    t.must_eq(await t.call_ok("PromiseWorkflow", "peek", "p", key=key), "v", "peek after")
    await t.attach(inv)


@case("PRM-006", "several promises are awaited in order", requirements=["JRN-PROMISE-1", "TS-PROMISE-1"], capabilities=WF)
async def several(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": ["a", "b", "c"]}, key=key)
    for name in ("c", "a", "b"):
        await t.call_ok("PromiseWorkflow", "resolve", {"name": name, "value": name.upper()}, key=key)
    t.must_eq((await t.attach(inv)).json(), ["A", "B", "C"], "output")


@case("PRM-007", "an awakeable resolved through the ingress delivers its value",
      requirements=["JRN-AWK-1", "ING-AWK-1", "TS-HOLDER-1"], capabilities=["ingress.awakeables"])
async def awakeable_ingress(t: CaseContext) -> None:
    key, holder = t.uid(), t.uid("h")
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "awakeable", "holder": holder}]}, key=key,
                          idempotency_key=t.uid("ik"))
    aid = await t.wait_awakeable(holder)
    r = await t.resolve_awakeable(aid, {"secret": 7})
    t.must(r.status_code in (200, 202), f"resolve status {r.status_code}")
    t.must_eq((await t.attach(inv)).json(), [{"secret": 7}], "output")


@case("PRM-008", "an awakeable rejected through the ingress fails with the message",
      requirements=["JRN-AWK-2", "ING-AWK-1"], capabilities=["ingress.awakeables"])
async def awakeable_reject(t: CaseContext) -> None:
    key, holder = t.uid(), t.uid("h")
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "awakeable", "holder": holder}]}, key=key,
                          idempotency_key=t.uid("ik"))
    aid = await t.wait_awakeable(holder)
    r = await t.reject_awakeable(aid, "awk-boom")
    t.must(r.status_code in (200, 202), f"reject status {r.status_code}")
    r = await t.attach(inv)
    t.must(r.status_code >= 400, f"attach status {r.status_code}")
    t.must("awk-boom" in r.text, f"rejection message lost: {r.text}")


@case("PRM-009", "an awakeable resolved by another handler delivers its value", requirements=["JRN-AWK-3", "TS-HOLDER-2"])
async def awakeable_from_handler(t: CaseContext) -> None:
    key, holder = t.uid(), t.uid("h")
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "awakeable", "holder": holder}]}, key=key,
                          idempotency_key=t.uid("ik"))
    await t.wait_awakeable(holder)
    await t.call_ok("AwakeableHolder", "unlock", "from-handler", key=holder)
    t.must_eq((await t.attach(inv)).json(), ["from-handler"], "output")


@case("PRM-010", "resolving an unknown awakeable id is refused with 4xx", requirements=["ING-AWK-2"],
      capabilities=["ingress.awakeables"])
async def awakeable_unknown(t: CaseContext) -> None:
    r = await t.resolve_awakeable("not-an-awakeable-id", 1)
    t.must(400 <= r.status_code < 500, f"status {r.status_code}")


@case("PRM-011", "two workflows' promises with the same name are independent", requirements=["JRN-PROMISE-6", "TS-PROMISE-1"], capabilities=WF)
async def promise_scoped(t: CaseContext) -> None:
    k1, k2 = t.uid(), t.uid()
    i1 = await t.send_ok("PromiseWorkflow", "run", {"await": ["p"]}, key=k1)
    i2 = await t.send_ok("PromiseWorkflow", "run", {"await": ["p"]}, key=k2)
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "p", "value": 1}, key=k1)
    t.must_eq(await t.call_ok("PromiseWorkflow", "peek", "p", key=k2), None, "k2's promise")
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "p", "value": 2}, key=k2)
    r1, r2 = await asyncio.gather(t.attach(i1), t.attach(i2))
    t.must_eq((r1.json(), r2.json()), ([1], [2]), "outputs")


@case("PRM-012", "a shared handler sees progress made through promises", requirements=["JRN-PROMISE-1", "JRN-WF-3", "TS-PROMISE-1"], capabilities=WF)
async def progress(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": ["a", "b"]}, key=key)
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "a", "value": "A"}, key=key)

    async def received() -> object:
        return await t.call_ok("PromiseWorkflow", "received", key=key)

    await t.eventually(received, lambda v: v == ["A"], 10, "received after the first promise")
    await t.call_ok("PromiseWorkflow", "resolve", {"name": "b", "value": "B"}, key=key)
    t.must_eq((await t.attach(inv)).json(), ["A", "B"], "output")
