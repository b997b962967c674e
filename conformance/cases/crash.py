"""Crash recovery: SIGKILL the server or the services mid-flight (capability ``process.control``).

Only stacks the kit started itself can be crashed, so these cases need ``process.control``
and run alone after every other case (``exclusive``): a restart would disturb concurrent
cases. After each restart the kit checks that nothing acknowledged was lost or done twice.
"""

from __future__ import annotations

import asyncio

from ..context import CaseContext
from ..registry import case

CTL = ["process.control"]




@case("CRASH-001", "an acknowledged idempotent result survives a server SIGKILL", requirements=["ING-IDEMP-5", "JRN-LOG-5"],
      capabilities=CTL, exclusive=True, timeout_s=90)
async def idempotent_result(t: CaseContext) -> None:
    ctl = t.target.control
    assert ctl is not None
    key, ik = t.uid(), t.uid("ik")
    first = await t.call_ok("Counter", "add", 1, key=key, idempotency_key=ik)
    await ctl.kill_server()
    await ctl.start_server()
    again = await t.call_ok("Counter", "add", 1, key=key, idempotency_key=ik)
    t.must_eq(again, first, "answer of the repeated idempotent call after the restart")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 1, "counter after the restart")


@case("CRASH-002", "a sleeping invocation completes after a server SIGKILL; its steps ran once",
      requirements=["JRN-TIMER-3", "JRN-RUN-2", "JRN-LOG-5"], capabilities=CTL, exclusive=True, timeout_s=90)
async def sleep_across_crash(t: CaseContext) -> None:
    ctl = t.target.control
    assert ctl is not None
    tag = t.uid("fx")
    inv = await t.send_ok("Interpreter", "run", {"commands": [
        {"op": "run", "effect": tag, "value": "before"}, {"op": "sleep", "ms": 1500},
        {"op": "run", "effect": tag, "value": "after"}]}, key=t.uid(), idempotency_key=t.uid("ik"))

    async def ran() -> int:
        return await t.effects(tag)

    await t.eventually(ran, lambda v: v >= 1, 15, "first step executed")
    await asyncio.sleep(0.3)
    await ctl.kill_server()
    await ctl.start_server()
    r = await t.attach(inv, timeout=60)
    t.must_eq((r.status_code, r.json()), (200, ["before", None, "after"]), "output after the restart")
    t.must_eq(await t.effects(tag), 2, "effect executions (each step exactly once)")


@case("CRASH-003", "a sleeping invocation completes after the services are SIGKILLed and restarted",
      requirements=["JRN-TIMER-3", "JRN-RETRY-10"], capabilities=CTL, exclusive=True, timeout_s=90)
async def services_crash(t: CaseContext) -> None:
    ctl = t.target.control
    assert ctl is not None
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "set", "key": "a", "value": 1},
                                                              {"op": "sleep", "ms": 1500}, {"op": "get", "key": "a"}]},
                          key=t.uid(), idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.5)
    await ctl.kill_services()
    await ctl.start_services()
    r = await t.attach(inv, timeout=60)
    t.must_eq((r.status_code, r.json()), (200, [None, None, 1]), "output after the services restart")


@case("CRASH-004", "an acknowledged cancellation survives a server SIGKILL", requirements=["JRN-KILL-4", "JRN-CANCEL-1"],
      capabilities=[*CTL, "admin.cancel"], exclusive=True, timeout_s=90)
async def cancel_across_crash(t: CaseContext) -> None:
    ctl = t.target.control
    assert ctl is not None
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "sleep", "ms": 60000}]}, key=t.uid(),
                          idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    r = await t.cancel(inv)
    t.must(r.status_code in (200, 202), f"cancel status {r.status_code}")
    await ctl.kill_server()
    await ctl.start_server()
    t.must_eq((await t.attach(inv, timeout=60)).status_code, 409, "attach status after the restart")


@case("CRASH-005", "a delayed send survives a server SIGKILL", requirements=["ING-DELAY-5", "ING-DELAY-1"],
      capabilities=[*CTL, "ingress.delayed_send"], exclusive=True, timeout_s=90)
async def delayed_across_crash(t: CaseContext) -> None:
    ctl = t.target.control
    assert ctl is not None
    key = t.uid()
    await t.send_ok("Counter", "add", 1, key=key, delay="2s")
    await ctl.kill_server()
    await ctl.start_server()

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    await t.eventually(get, lambda v: v == 1, 30, "delayed add after the restart")
