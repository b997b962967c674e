"""Sagas: compensations in reverse order, exactly once, on failure and on cancellation (not on kill)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..context import CaseContext
from ..registry import case

WF = ["workflows"]


def _steps(names: str, fail: str | None = None, wait: str | None = None) -> list[dict[str, Any]]:
    return [{"name": n, "fail": n == fail, "awaitPromise": n == wait} for n in names]


@case("SAG-001", "a saga without failure runs every step once and no compensation", requirements=["TS-SAGA-1", "JRN-RUN-2"],
      capabilities=WF)
async def success(t: CaseContext) -> None:
    key = t.uid()
    out = await t.call_ok("SagaWorkflow", "run", {"steps": _steps("abc"), "tag": key}, key=key)
    t.must_eq(out, ["a", "b", "c"], "saga output")
    t.must_eq(await t.call_ok("SagaWorkflow", "getCompensations", key=key), [], "compensations")
    for s in "abc":
        t.must_eq(await t.effects(f"{key}:do:{s}"), 1, f"executions of step {s}")


@case("SAG-002", "a failing step compensates the earlier steps in reverse order", requirements=["TS-SAGA-2", "ERR-TERM-2"],
      capabilities=WF)
async def reverse(t: CaseContext) -> None:
    key = t.uid()
    r = await t.call("SagaWorkflow", "run", {"steps": _steps("abcd", fail="c"), "tag": key}, key=key)
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must_eq(await t.call_ok("SagaWorkflow", "getCompensations", key=key), ["c", "b", "a"], "compensation order")
    t.must_eq(await t.effects(f"{key}:do:d"), 0, "executions of the step after the failure")


@case("SAG-003", "each compensation runs exactly once", requirements=["TS-SAGA-2", "JRN-RUN-2"], capabilities=WF)
async def once(t: CaseContext) -> None:
    key = t.uid()
    await t.call("SagaWorkflow", "run", {"steps": _steps("abc", fail="c"), "tag": key}, key=key)
    for s in "abc":
        t.must_eq(await t.effects(f"{key}:undo:{s}"), 1, f"compensation of {s}")


@case("SAG-004", "a failure at the first step compensates only that step", requirements=["TS-SAGA-2"], capabilities=WF)
async def first_fails(t: CaseContext) -> None:
    key = t.uid()
    await t.call("SagaWorkflow", "run", {"steps": _steps("ab", fail="a"), "tag": key}, key=key)
    t.must_eq(await t.call_ok("SagaWorkflow", "getCompensations", key=key), ["a"], "compensations")


@case("SAG-005", "cancelling a waiting saga runs its compensations", requirements=["TS-SAGA-3", "JRN-CANCEL-4", "ADM-CANCEL-1"],
      capabilities=[*WF, "admin.cancel"])
async def cancelled(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("SagaWorkflow", "run", {"steps": _steps("abc", wait="c"), "tag": key}, key=key)

    async def done() -> object:
        return await t.effects(f"{key}:do:b")

    await t.eventually(done, lambda v: v == 1, 10, "saga reached its wait")
    await asyncio.sleep(0.2)
    r = await t.cancel(inv)
    t.must(r.status_code in (200, 202), f"cancel status {r.status_code}")
    t.must_eq((await t.attach(inv)).status_code, 409, "attach status")
    t.must_eq(await t.call_ok("SagaWorkflow", "getCompensations", key=key), ["b", "a"], "compensations")


@case("SAG-006", "killing a waiting saga runs no compensation", requirements=["TS-SAGA-3", "JRN-KILL-1", "ADM-KILL-1"],
      capabilities=[*WF, "admin.kill"])
async def killed(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("SagaWorkflow", "run", {"steps": _steps("abc", wait="c"), "tag": key}, key=key)

    async def done() -> object:
        return await t.effects(f"{key}:do:b")

    await t.eventually(done, lambda v: v == 1, 10, "saga reached its wait")
    await asyncio.sleep(0.2)
    r = await t.kill(inv)
    t.must(r.status_code in (200, 202), f"kill status {r.status_code}")
    await t.attach(inv)
    await asyncio.sleep(0.3)
    for s in "abc":
        t.must_eq(await t.effects(f"{key}:undo:{s}"), 0, f"compensation of {s} after kill")


@case("SAG-007", "a failed saga's outcome is retained for attach", requirements=["TS-SAGA-2", "JRN-WF-4"], capabilities=WF)
async def retained(t: CaseContext) -> None:
    key = t.uid()
    r1 = await t.call("SagaWorkflow", "run", {"steps": _steps("ab", fail="b"), "tag": key}, key=key)
    r2 = await t.attach_target({"target": "workflow", "workflowName": "SagaWorkflow", "workflowKey": key})
    t.must_eq(r2.status_code, r1.status_code, "attach status equals the run's status")
    t.must("step b failed" in r2.text, f"attach message {r2.text}")


@case("SAG-008", "the saga resumes after a promise-wait and completes", requirements=["TS-SAGA-1", "JRN-PROMISE-1"],
      capabilities=WF)
async def resume(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("SagaWorkflow", "run", {"steps": _steps("ab", wait="b"), "tag": key}, key=key)
    await t.call_ok("SagaWorkflow", "resolve", "b", key=key)
    t.must_eq((await t.attach(inv)).json(), ["a", "b"], "output")
