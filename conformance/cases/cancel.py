"""Cancellation and kill: blocked on sleep/call/awakeable, propagation, lock release (spec/06, spec/03)."""

from __future__ import annotations

import asyncio

from ..context import CaseContext
from ..model import Strength
from ..registry import case

CANCEL = ["admin.cancel"]
KILL = ["admin.kill"]


def _cancel_runner(op: str) -> object:
    async def fn(t: CaseContext) -> None:
        key = t.uid()
        inv = await t.send_ok("CancelTestRunner", "startTest", op, key=key)
        await t.wait_awakeable(key)
        await t.call_ok("AwakeableHolder", "unlock", "go", key=key)
        await asyncio.sleep(0.3)  # let the blocked handler reach its blocking await
        r = await t.cancel(inv)
        t.must(r.status_code in (200, 202), f"cancel status {r.status_code} {r.text[:200]}")
        res = await t.attach(inv)
        t.must_eq(res.status_code, 409, "attach status of a cancelled invocation")

        async def verify() -> object:
            return await t.call_ok("CancelTestRunner", "verifyTest", key=key)

        await t.eventually(verify, lambda v: v is True, 10, "runner saw the cancellation of its child (409)")
        # The blocking object's lock must be released.
        r = await t.call("CancelTestBlockingService", "isUnlocked", key=key, timeout=10)
        t.must_eq(r.status_code, 200, "blocking object lock released")

    return fn


for _i, _op in enumerate(["SLEEP", "CALL", "AWAKEABLE"]):
    case(f"CNL-00{_i + 1}", f"cancel reaches a child blocked on {_op.lower()} and the parent sees 409",
         requirements=["ADM-CANCEL-1", "JRN-CANCEL-1", "JRN-CANCEL-2", "TS-CANCEL-1"], capabilities=CANCEL,
         timeout_s=40)(_cancel_runner(_op))  # type: ignore[arg-type]


@case("CNL-004", "a cancelled sleeping invocation ends with 409", requirements=["ADM-CANCEL-1", "JRN-CANCEL-1"],
      capabilities=CANCEL)
async def cancel_sleep(t: CaseContext) -> None:
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 60000}]}, key=t.uid(),
                          idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    r = await t.cancel(inv)
    t.must(r.status_code in (200, 202), f"cancel status {r.status_code}")
    t.must_eq((await t.attach(inv)).status_code, 409, "attach status")


@case("CNL-005", "a handler can cancel another invocation", requirements=["JRN-CANCEL-3", "TS-UTILS-6"])
async def cancel_from_context(t: CaseContext) -> None:
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 60000}]}, key=t.uid(),
                          idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    await t.call_ok("TestUtilsService", "cancelInvocation", inv)
    t.must_eq((await t.attach(inv)).status_code, 409, "attach status")


@case("CNL-006", "cancelling a completed invocation answers 409", requirements=["ADM-CANCEL-2"], capabilities=CANCEL,
      strength=Strength.SHOULD)
async def cancel_completed(t: CaseContext) -> None:
    inv = await t.send_ok("TestUtilsService", "echo", 1, idempotency_key=t.uid("ik"))
    await t.attach(inv)
    r = await t.cancel(inv)
    t.must_eq(r.status_code, 409, "cancel of a completed invocation")


@case("CNL-007", "cancelling an unknown invocation answers 404", requirements=["ADM-CANCEL-3"], capabilities=CANCEL)
async def cancel_unknown(t: CaseContext) -> None:
    inv = await t.send_ok("TestUtilsService", "echo", 1)
    bogus = inv[:-4] + ("AAAA" if not inv.endswith("AAAA") else "BBBB")
    r = await t.cancel(bogus)
    t.must(r.status_code in (404, 400), f"status {r.status_code}")
    t.should(r.status_code == 404, f"unknown invocation should be 404, got {r.status_code}")


@case("CNL-008", "kill of a call tree releases the objects' locks", requirements=["ADM-KILL-1", "JRN-KILL-1", "TS-KILL-1"],
      capabilities=KILL, timeout_s=40)
async def kill_tree(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("KillTestRunner", "startCallTree", key=key)
    await t.wait_awakeable(key)
    r = await t.kill(inv)
    t.must(r.status_code in (200, 202), f"kill status {r.status_code}")
    t.must_eq((await t.attach(inv)).status_code, 409, "attach status of a killed invocation")
    r = await t.call("KillTestSingleton", "isUnlocked", key=key, timeout=15)
    t.must_eq(r.status_code, 200, "child object unlocked after the kill")


@case("CNL-009", "a killed invocation ends with 409", requirements=["ADM-KILL-1"], capabilities=KILL)
async def kill_sleep(t: CaseContext) -> None:
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 60000}]}, key=t.uid(),
                          idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    r = await t.kill(inv)
    t.must(r.status_code in (200, 202), f"kill status {r.status_code}")
    t.must_eq((await t.attach(inv)).status_code, 409, "attach status")


@case("CNL-010", "a cancelled object invocation releases the key for the next one", requirements=["JRN-CANCEL-1", "JRN-VO-1"],
      capabilities=CANCEL)
async def cancel_releases_key(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 60000}]}, key=key,
                          idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    await t.cancel(inv)
    out = await t.interpret_ok(key, [{"op": "set", "key": "after", "value": 1}], timeout=15)
    t.must_eq(out, [None], "next invocation on the key")


@case("CNL-011", "a cancelled handler's catch block runs (compensation) and its state persists",
      requirements=["JRN-CANCEL-1", "JRN-CANCEL-4"], capabilities=CANCEL)
async def cancel_compensates(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("Interpreter", "run", {"commands": [
        {"op": "try", "body": [{"op": "sleep", "ms": 60000}], "catch": [{"op": "set", "key": "compensated", "value": True}]},
        {"op": "fail", "message": "after-cancel"}]}, key=key, idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    await t.cancel(inv)
    await t.attach(inv)
    t.must_eq(await t.call_ok("Interpreter", "get", "compensated", key=key), True, "compensation state")
