"""Workflows: run once per key, duplicate submissions, shared handlers, attach/output by target."""

from __future__ import annotations

import asyncio

from ..context import CaseContext
from ..registry import case

WF = ["workflows"]


def _wf(key: str) -> dict[str, str]:
    return {"target": "workflow", "workflowName": "BlockAndWaitWorkflow", "workflowKey": key}


@case("WF-001", "a second call of a workflow's run for one key answers 409", requirements=["ING-WF-1", "JRN-WF-1"], capabilities=WF)
async def once(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "a", key=key)
    r = await t.call("BlockAndWaitWorkflow", "run", "b", key=key, timeout=10)
    t.must_eq(r.status_code, 409, "second run call")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "x", key=key)


@case("WF-002", "a duplicate send of a workflow's run answers PreviouslyAccepted with the same id",
      requirements=["ING-WF-2", "ING-SEND-3"], capabilities=WF)
async def send_twice(t: CaseContext) -> None:
    key = t.uid()
    r1 = await t.send("BlockAndWaitWorkflow", "run", "a", key=key)
    r2 = await t.send("BlockAndWaitWorkflow", "run", "a", key=key)
    t.must_eq((r1.status_code, r2.status_code), (202, 202), "statuses")
    t.must_eq(r2.json().get("status"), "PreviouslyAccepted", "second status")
    t.must_eq(r2.json().get("invocationId"), r1.json().get("invocationId"), "invocation id")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "x", key=key)


@case("WF-003", "output by workflow target answers 470 before and 200 after completion",
      requirements=["ING-OUTPUT-1", "ING-OUTPUT-2"], capabilities=WF)
async def output(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "a", key=key)
    r = await t.output_target(_wf(key))
    t.must_eq(r.status_code, 470, "output before completion")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "done", key=key)
    r = await t.attach_target(_wf(key))
    t.must_eq((r.status_code, r.json()), (200, "done"), "attach")
    r = await t.output_target(_wf(key))
    t.must_eq((r.status_code, r.json()), (200, "done"), "output after completion")


@case("WF-004", "attach by workflow target waits for the result", requirements=["ING-ATTACH-2", "JRN-WF-4"], capabilities=WF)
async def attach_waits(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "a", key=key)
    attach = asyncio.ensure_future(t.attach_target(_wf(key)))
    await asyncio.sleep(0.3)
    t.must(not attach.done(), "attach returned before the workflow completed")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "late", key=key)
    r = await attach
    t.must_eq((r.status_code, r.json()), (200, "late"), "attach")


@case("WF-005", "a shared handler reads workflow state while run is blocked", requirements=["JRN-WF-3"], capabilities=WF)
async def shared_state(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "hello", key=key)

    async def st() -> object:
        return await t.call_ok("BlockAndWaitWorkflow", "getState", key=key)

    await t.eventually(st, lambda v: v == "hello", 10, "getState")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "x", key=key)


@case("WF-006", "after completion, a new run call for the key still answers 409", requirements=["ING-WF-1", "JRN-WF-4"],
      capabilities=WF)
async def after_completion(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "a", key=key)
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "x", key=key)
    await t.attach_target(_wf(key))
    r = await t.call("BlockAndWaitWorkflow", "run", "b", key=key)
    t.must_eq(r.status_code, 409, "run after completion within retention")


@case("WF-007", "workflow state is kept after completion", requirements=["JRN-WF-4"], capabilities=WF)
async def state_kept(t: CaseContext) -> None:
    key = t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "kept", key=key)
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "x", key=key)
    await t.attach_target(_wf(key))
    t.must_eq(await t.call_ok("BlockAndWaitWorkflow", "getState", key=key), "kept", "state after completion")


@case("WF-008", "workflows with different keys are independent", requirements=["JRN-WF-1"], capabilities=WF)
async def keys_independent(t: CaseContext) -> None:
    k1, k2 = t.uid(), t.uid()
    await t.send_ok("BlockAndWaitWorkflow", "run", "1", key=k1)
    await t.send_ok("BlockAndWaitWorkflow", "run", "2", key=k2)
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "two", key=k2)
    r = await t.attach_target(_wf(k2))
    t.must_eq(r.json(), "two", "k2 output")
    t.must_eq((await t.output_target(_wf(k1))).status_code, 470, "k1 still running")
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "one", key=k1)


@case("WF-009", "the send answer's id attaches to the workflow's result", requirements=["ING-ATTACH-1", "JRN-WF-1"],
      capabilities=WF)
async def id_attach(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("BlockAndWaitWorkflow", "run", "a", key=key)
    await t.call_ok("BlockAndWaitWorkflow", "unblock", "by-id", key=key)
    t.must_eq((await t.attach(inv)).json(), "by-id", "attach by id")


@case("WF-010", "a workflow call (not send) returns its output directly", requirements=["ING-CALL-1", "JRN-WF-1"],
      capabilities=WF)
async def call_run(t: CaseContext) -> None:
    key = t.uid()
    out = await t.call_ok("PromiseWorkflow", "run", {"await": []}, key=key)
    t.must_eq(out, [], "output")


@case("WF-011", "a workflow's run id is the same for send and a later attach by target", requirements=["ING-WF-2"],
      capabilities=WF)
async def same_id(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("PromiseWorkflow", "run", {"await": []}, key=key)
    r = await t.attach_target({"target": "workflow", "workflowName": "PromiseWorkflow", "workflowKey": key})
    t.must_eq(r.status_code, 200, "attach")
    t.should(r.headers.get("x-restate-id") in (None, inv), f"attach x-restate-id {r.headers.get('x-restate-id')} != {inv}")


@case("WF-012", "after the workflow retention ends, the result is gone and the key can run again",
      requirements=["ING-WF-6", "JRN-WF-4", "TS-RETENTION-1"], capabilities=[*WF, "services.retention"], timeout_s=45)
async def retention(t: CaseContext) -> None:
    key = t.uid()
    target = {"target": "workflow", "workflowName": "ShortRetentionWorkflow", "workflowKey": key}
    t.must_eq(await t.call_ok("ShortRetentionWorkflow", "run", "first", key=key), "first", "first run")
    r = await t.call("ShortRetentionWorkflow", "run", "again", key=key)
    t.must_eq(r.status_code, 409, "a second run within the 5 s retention")

    async def output() -> int:
        return int((await t.output_target(target)).status_code)

    await t.eventually(output, lambda s: s == 404, 30, "output after the retention ended", interval=0.5)
    t.must_eq(await t.call_ok("ShortRetentionWorkflow", "run", "second", key=key), "second", "run after the retention")


@case("WF-013", "shared handlers run before, during (while run waits) and after a workflow's run",
      requirements=["JRN-WF-2", "TS-PROMISE-1"], capabilities=WF, timeout_s=60)
async def shared_any_time(t: CaseContext) -> None:
    key = t.uid()
    target = {"target": "workflow", "workflowName": "PromiseWorkflow", "workflowKey": key}
    t.must_eq(await t.call_ok("PromiseWorkflow", "resolve", {"name": "p1", "value": 1}, key=key), None,
              "resolve from a shared handler before run exists")
    t.must_eq(await t.call_ok("PromiseWorkflow", "peek", "p1", key=key), 1, "peek before run")
    await t.send_ok("PromiseWorkflow", "run", {"sleepMs": 6000, "await": ["p1", "p2"]}, key=key)
    await asyncio.sleep(0.3)
    t.must_eq(await t.call_ok("PromiseWorkflow", "peek", "p2", key=key), None, "peek while run sleeps")
    t.must_eq(await t.call_ok("PromiseWorkflow", "resolve", {"name": "p2", "value": 2}, key=key), None,
              "resolve while run sleeps")
    early = await t.output_target(target)
    t.must(early.status_code == 470, f"the shared handlers only answered after run had finished (output "
                                     f"{early.status_code} {early.text[:100]}): they must run concurrently with it")
    r = await t.attach_target(target, timeout=30)
    t.must_eq((r.status_code, r.json()), (200, [1, 2]), "result of run")
    t.must_eq(await t.call_ok("PromiseWorkflow", "received", key=key), [1, 2], "a shared handler after run")
