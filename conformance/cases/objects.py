"""Virtual objects: one exclusive handler per key at a time, FIFO per key, shared handlers concurrent."""

from __future__ import annotations

import asyncio
import time

from ..context import CaseContext
from ..registry import case


def _bracket(tag: str, ms: int) -> list[dict[str, object]]:
    return [{"op": "append", "key": "log", "value": f"{tag}-start"}, {"op": "sleep", "ms": ms},
            {"op": "append", "key": "log", "value": f"{tag}-end"}]


@case("OBJ-001", "exclusive handlers of one key never interleave", requirements=["JRN-VO-1"])
async def exclusive(t: CaseContext) -> None:
    key = t.uid()
    rs = await asyncio.gather(*(t.interpret(key, _bracket(tag, 200)) for tag in "abc"))
    t.must(all(r.status_code == 200 for r in rs), f"statuses {[r.status_code for r in rs]}")
    log = await t.call_ok("Interpreter", "get", "log", key=key)
    t.must(isinstance(log, list) and len(log) == 6, f"log {log}")
    for i in range(0, 6, 2):
        t.must(log[i].endswith("-start") and log[i + 1] == log[i].replace("-start", "-end"),
               f"exclusive handlers interleaved: {log}")


@case("OBJ-002", "invocations of one key run in arrival (FIFO) order", requirements=["JRN-VO-3", "TS-LIST-1"])
async def fifo(t: CaseContext) -> None:
    key = t.uid()
    for i in range(10):
        await t.send_ok("ListObject", "append", i, key=key)

    async def get() -> object:
        return await t.call_ok("ListObject", "get", key=key)

    await t.eventually(get, lambda v: isinstance(v, list) and len(v) >= 10, 15, "10 appends")
    t.must_eq(await get(), list(range(10)), "append order")


@case("OBJ-003", "a shared handler is not blocked by a running exclusive handler", requirements=["JRN-VO-2"])
async def shared_not_blocked(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "set", "key": "s", "value": 1},
                                                              {"op": "sleep", "ms": 6000}]}, key=key,
                          idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.3)
    start = time.monotonic()
    r = await t.call("Interpreter", "get", "s", key=key, timeout=10)
    took = time.monotonic() - start
    t.must_eq(r.status_code, 200, "shared get")
    t.must(took < 4.0, f"shared handler waited {took:.2f}s for the exclusive one (which sleeps 6 s)")
    await t.attach(inv)


@case("OBJ-004", "a key blocked on an awakeable does not hold up other keys", requirements=["JRN-VO-4"])
async def keys_concurrent(t: CaseContext) -> None:
    blocked, holder = t.uid(), t.uid("h")
    inv = await t.send_ok("Interpreter", "run", {"commands": [{"op": "awakeable", "holder": holder}]}, key=blocked,
                          idempotency_key=t.uid("ik"))
    await t.wait_awakeable(holder)
    rs = await asyncio.gather(*(t.interpret(t.uid(), [{"op": "sleep", "ms": 100}, {"op": "run", "value": i}], timeout=20)
                                for i in range(4)))
    t.must([r.json() if r.status_code == 200 else r.status_code for r in rs] == [[None, i] for i in range(4)],
           f"other keys while one is blocked: {[r.text[:50] for r in rs]}")
    t.must_eq((await t.output(inv)).status_code, 470, "the blocked key is still running")
    await t.call_ok("AwakeableHolder", "unlock", "go", key=holder)
    t.must_eq((await t.attach(inv)).json(), ["go"], "the blocked key's output after unlock")


@case("OBJ-005", "concurrent adds on one key are linearizable", requirements=["JRN-VO-1", "TS-COUNTER-1"])
async def linearizable(t: CaseContext) -> None:
    key = t.uid()
    outs = await asyncio.gather(*(t.call_ok("Counter", "add", 1, key=key) for _ in range(15)))
    olds = sorted(o["oldValue"] for o in outs)
    t.must_eq(olds, list(range(15)), "oldValues seen by 15 concurrent adds")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 15, "final counter")


@case("OBJ-006", "keys with special characters are distinct and round-trip", requirements=["ING-KEY-1", "JRN-STATE-6"])
async def special_keys(t: CaseContext) -> None:
    base = t.uid()
    keys = [f"{base} a/b", f"{base}?x=1", f"{base}-ü", f"{base}%2F"]
    for i, k in enumerate(keys):
        await t.call_ok("Counter", "add", i + 1, key=k)
    for i, k in enumerate(keys):
        t.must_eq(await t.call_ok("Counter", "get", key=k), i + 1, f"counter of key {k!r}")


@case("OBJ-007", "a queued exclusive invocation waits for the lock holder", requirements=["JRN-VO-1", "JRN-VO-3"])
async def queued(t: CaseContext) -> None:
    key = t.uid()
    inv = await t.send_ok("Interpreter", "run", {"commands": _bracket("first", 700)}, key=key, idempotency_key=t.uid("ik"))
    await asyncio.sleep(0.1)
    out = await t.interpret_ok(key, [{"op": "get", "key": "log"}])
    t.must_eq(out[0], ["first-start", "first-end"], "the second invocation saw the whole first one")
    await t.attach(inv)


@case("OBJ-008", "the key is available inside the handler", requirements=["JRN-VO-5"])
async def key_visible(t: CaseContext) -> None:
    key = t.uid()
    r = await t.call("Counter", "addThenFail", 1, key=key)
    t.must(key in r.text, f"the handler's error message is its key: {r.text}")
