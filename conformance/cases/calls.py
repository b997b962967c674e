"""Service-to-service calls, one-way sends, ordering and delayed sends (spec/03 calls)."""

from __future__ import annotations

import time

from ..context import CaseContext
from ..registry import case


def _req(service: str, handler: str, input: object, key: str | None = None, **kw: object) -> dict[str, object]:
    r: dict[str, object] = {"service": service, "handler": handler, "input": input, **kw}
    if key is not None:
        r["key"] = key
    return r


@case("CALL-001", "a call returns the callee's output", requirements=["JRN-CALL-1", "TS-PROXY-1"])
async def call(t: CaseContext) -> None:
    key = t.uid()
    out = await t.call_ok("Proxy", "call", _req("Counter", "add", 2, key))
    t.must_eq(out, {"oldValue": 0, "newValue": 2}, "proxied add")


@case("CALL-002", "a one-way call runs the callee and returns its invocation id", requirements=["JRN-SEND-1", "TS-PROXY-2"])
async def one_way(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.call_ok("Proxy", "oneWayCall", _req("Counter", "add", 3, key))
    t.must(isinstance(inv, str) and inv.startswith("inv_"), f"invocation id {inv!r}")

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    await t.eventually(get, lambda v: v == 3, 15, "counter after one-way add")


@case("CALL-003", "a call with an idempotency key runs the callee once", requirements=["JRN-CALL-2", "ING-IDEMP-1"])
async def call_idempotent(t: CaseContext) -> None:
    key, ik = t.uid(), t.uid("ik")
    a = await t.call_ok("Proxy", "call", _req("Counter", "add", 1, key, idempotencyKey=ik))
    b = await t.call_ok("Proxy", "call", _req("Counter", "add", 1, key, idempotencyKey=ik))
    t.must_eq(a, {"oldValue": 0, "newValue": 1}, "first")
    t.must_eq(b, a, "second")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 1, "counter")


@case("CALL-004", "a one-way call with an idempotency key runs once", requirements=["JRN-SEND-2", "ING-IDEMP-1"])
async def send_idempotent(t: CaseContext) -> None:
    key, ik = t.uid(), t.uid("ik")
    for _ in range(2):
        await t.call_ok("Proxy", "oneWayCall", _req("Counter", "add", 1, key, idempotencyKey=ik))

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    await t.eventually(get, lambda v: v == 1, 10, "counter")
    await t.stays(get, lambda v: v == 1, 0.5, "deduplicated one-way call must not run twice")


def _ordering(pattern: list[tuple[bool, bool]]) -> object:
    async def fn(t: CaseContext) -> None:
        key = t.uid()
        reqs = [{"request": _req("ListObject", "append", str(i), key), "oneWay": one_way, "awaitAtTheEnd": at_end}
                for i, (one_way, at_end) in enumerate(pattern)]
        await t.call_ok("Proxy", "manyCalls", reqs)
        want = [str(i) for i in range(len(pattern))]

        async def get() -> object:
            return await t.call_ok("ListObject", "get", key=key)

        await t.eventually(get, lambda v: v == want or (isinstance(v, list) and len(v) >= len(want)), 15, "appends")
        t.must_eq(await get(), want, "order of appends to one key")

    return fn


for _n, _pattern in enumerate([
    [(True, False), (False, False), (True, False)],
    [(False, True), (True, False), (False, True)],
    [(True, False)] * 3 + [(False, False)] * 3,
]):
    case(f"CALL-00{5 + _n}", f"mixed calls and sends to one key keep their issue order (pattern {_n + 1})",
         requirements=["JRN-SEND-3", "JRN-VO-3", "TS-PROXY-3"])(_ordering(_pattern))  # type: ignore[arg-type]


@case("CALL-008", "a delayed one-way call does not run before its delay", requirements=["JRN-SEND-4"], timeout_s=30)
async def delayed_send(t: CaseContext) -> None:
    key = t.uid()
    start = time.monotonic()
    await t.call_ok("Proxy", "oneWayCall", _req("Counter", "add", 1, key, delayMs=1500))

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    early = await get()
    t.must(early == 0 or time.monotonic() - start >= 1.5,
           f"the delayed add ran {time.monotonic() - start:.2f}s after the send started, before its 1.5 s delay")
    await t.eventually(get, lambda v: v == 1, 15, "counter after the delay")
    t.must(time.monotonic() - start >= 1.4, f"ran after {time.monotonic() - start:.2f}s, before its 1.5 s delay")


@case("CALL-009", "a terminal error of the callee propagates to the caller", requirements=["JRN-CALL-3", "ERR-TERM-4", "TS-FAILING-2"])
async def call_error(t: CaseContext) -> None:
    r = await t.call("Failing", "callTerminallyFailingCall", {"errorMessage": "deep-boom"}, key=t.uid())
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must("deep-boom" in r.text, f"callee's message lost: {r.text}")


@case("CALL-010", "nested calls (proxy of a proxy)", requirements=["JRN-CALL-1"])
async def nested(t: CaseContext) -> None:
    inner = _req("TestUtilsService", "echo", ["deep"])
    out = await t.call_ok("Proxy", "call", _req("Proxy", "call", _req("Proxy", "call", inner)))
    t.must_eq(out, ["deep"], "nested output")


@case("CALL-011", "a call from an interpreter to a virtual object", requirements=["JRN-CALL-1", "TS-INTERP-1"])
async def interp_call(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(t.uid(), [{"op": "call", **_req("Counter", "add", 4, key)},
                                         {"op": "call", **_req("Counter", "add", 1, key)}])
    t.must_eq(out, [{"oldValue": 0, "newValue": 4}, {"oldValue": 4, "newValue": 5}], "results")


@case("CALL-012", "a call to a workflow's run from a handler", requirements=["JRN-CALL-1", "JRN-WF-1"],
      capabilities=["workflows"])
async def call_workflow(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("BlockAndWaitWorkflow", "run", "in", key=key)
    await t.call_ok("Proxy", "call", _req("BlockAndWaitWorkflow", "unblock", "from-proxy", key))
    r = await t.attach(inv)
    t.must_eq(r.json(), "from-proxy", "workflow output")
