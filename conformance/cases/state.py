"""Virtual-object state: get/set/clear/clearAll/keys, isolation, persistence (spec/03 state)."""

from __future__ import annotations

from ..context import CaseContext
from ..registry import case


@case("ST-001", "read-modify-write across invocations", requirements=["JRN-STATE-1", "TS-COUNTER-1"])
async def rmw(t: CaseContext) -> None:
    key = t.uid()
    t.must_eq(await t.call_ok("Counter", "add", 1, key=key), {"oldValue": 0, "newValue": 1}, "add(1)")
    t.must_eq(await t.call_ok("Counter", "add", 2, key=key), {"oldValue": 1, "newValue": 3}, "add(2)")


@case("ST-002", "state written by an exclusive handler is read by a shared handler", requirements=["JRN-STATE-1", "JRN-VO-2"])
async def shared_reads(t: CaseContext) -> None:
    key = t.uid()
    await t.call_ok("Counter", "add", 7, key=key)
    t.must_eq(await t.call_ok("Counter", "get", key=key), 7, "shared get")


@case("ST-003", "three sends of add(1) give 3", requirements=["JRN-STATE-1", "ING-SEND-2"])
async def three_sends(t: CaseContext) -> None:
    key = t.uid()
    for _ in range(3):
        await t.send_ok("Counter", "add", 1, key=key)

    async def get() -> object:
        return await t.call_ok("Counter", "get", key=key)

    await t.eventually(get, lambda v: v == 3, 15, "counter after 3 sends")


@case("ST-004", "clearAll clears only its own key", requirements=["JRN-STATE-2", "TS-MAP-1"])
async def clear_all_isolated(t: CaseContext) -> None:
    k1, k2 = t.uid(), t.uid()
    for k in (k1, k2):
        await t.call_ok("MapObject", "set", {"key": "a", "value": 1}, key=k)
        await t.call_ok("MapObject", "set", {"key": "b", "value": 2}, key=k)
    cleared = await t.call_ok("MapObject", "clearAll", key=k1)
    t.must_eq(cleared, [{"key": "a", "value": 1}, {"key": "b", "value": 2}], "entries before clearAll")
    t.must_eq(await t.call_ok("MapObject", "get", key=k1), [], "k1 after clearAll")
    t.must_eq(await t.call_ok("MapObject", "get", key=k2), [{"key": "a", "value": 1}, {"key": "b", "value": 2}], "k2")


@case("ST-005", "state set before a terminal error persists", requirements=["JRN-STATE-4", "ERR-TERM-3", "TS-COUNTER-2"])
async def persist_before_failure(t: CaseContext) -> None:
    key = t.uid()
    r = await t.call("Counter", "addThenFail", 4, key=key)
    t.must(r.status_code >= 400, f"addThenFail status {r.status_code}")
    t.must(key in r.text, f"error message should be the key: {r.text}")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 4, "counter after addThenFail")


@case("ST-006", "state keys lists the keys that are set", requirements=["JRN-STATE-5"])
async def keys(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [
        {"op": "set", "key": "b", "value": 1}, {"op": "set", "key": "a", "value": 2},
        {"op": "set", "key": "c", "value": 3}, {"op": "clear", "key": "c"}, {"op": "keys"},
    ])
    t.must_eq(out[-1], ["a", "b"], "state keys")


@case("ST-007", "clear removes a key; get of an unset key is empty", requirements=["JRN-STATE-2", "JRN-STATE-3"])
async def clear(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [
        {"op": "get", "key": "x"}, {"op": "set", "key": "x", "value": "v"}, {"op": "get", "key": "x"},
        {"op": "clear", "key": "x"}, {"op": "get", "key": "x"},
    ])
    t.must_eq(out, [None, None, "v", None, None], "results")


@case("ST-008", "state persists across invocations of the same key", requirements=["JRN-STATE-1"])
async def persists(t: CaseContext) -> None:
    key = t.uid()
    await t.interpret_ok(key, [{"op": "set", "key": "p", "value": {"n": [1, 2]}}])
    t.must_eq(await t.interpret_ok(key, [{"op": "get", "key": "p"}]), [{"n": [1, 2]}], "next invocation")
    t.must_eq(await t.call_ok("Interpreter", "get", "p", key=key), {"n": [1, 2]}, "shared get")


@case("ST-009", "state is isolated between keys of one object", requirements=["JRN-STATE-6"])
async def isolated_keys(t: CaseContext) -> None:
    k1, k2 = t.uid(), t.uid()
    await t.call_ok("Counter", "add", 5, key=k1)
    t.must_eq(await t.call_ok("Counter", "get", key=k2), 0, "other key")


@case("ST-010", "state is isolated between object types with the same key", requirements=["JRN-STATE-6"])
async def isolated_types(t: CaseContext) -> None:
    key = t.uid()
    await t.call_ok("ListObject", "append", "x", key=key)
    t.must_eq(await t.call_ok("MapObject", "get", key=key), [], "MapObject with the ListObject's key")


@case("ST-011", "a 256 KiB state value round-trips", requirements=["JRN-STATE-1"])
async def large_value(t: CaseContext) -> None:
    key, big = t.uid(), "x" * (256 * 1024)
    await t.interpret_ok(key, [{"op": "set", "key": "big", "value": big}])
    got = await t.call_ok("Interpreter", "get", "big", key=key)
    t.must(got == big, f"value differs (length {len(got) if isinstance(got, str) else got!r})")


@case("ST-012", "unicode state keys and values round-trip", requirements=["JRN-STATE-1"])
async def unicode(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(key, [{"op": "set", "key": "ключ ✓", "value": "värde 🎉"}, {"op": "get", "key": "ключ ✓"},
                                     {"op": "keys"}])
    t.must_eq(out[1], "värde 🎉", "value")
    t.must_eq(out[2], ["ключ ✓"], "keys")


@case("ST-013", "clearAll inside a handler then set: only the new key remains", requirements=["JRN-STATE-3", "JRN-STATE-5"])
async def clear_all_then_set(t: CaseContext) -> None:
    key = t.uid()
    await t.interpret_ok(key, [{"op": "set", "key": "a", "value": 1}, {"op": "set", "key": "b", "value": 2}])
    out = await t.interpret_ok(key, [{"op": "clearAll"}, {"op": "set", "key": "c", "value": 3}, {"op": "keys"}])
    t.must_eq(out[2], ["c"], "keys")
    t.must_eq(await t.call_ok("Interpreter", "get", "a", key=key), None, "a after clearAll")


@case("ST-014", "list appends keep their order", requirements=["JRN-STATE-1", "TS-LIST-1"])
async def list_order(t: CaseContext) -> None:
    key = t.uid()
    for i in range(5):
        await t.call_ok("ListObject", "append", i, key=key)
    t.must_eq(await t.call_ok("ListObject", "get", key=key), [0, 1, 2, 3, 4], "list")
    t.must_eq(await t.call_ok("ListObject", "clear", key=key), [0, 1, 2, 3, 4], "clear returns the list")
    t.must_eq(await t.call_ok("ListObject", "get", key=key), [], "list after clear")


@case("ST-015", "state written before a retried failure is not duplicated", requirements=["JRN-STATE-4", "ERR-RETRY-1"])
async def state_with_retry(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(key, [
        {"op": "increment", "key": "n"},
        {"op": "failRetryable", "tag": t.uid("f"), "times": 2},
        {"op": "increment", "key": "n"},
    ])
    t.must_eq(out[2], 2, "counter after a retried attempt")
    t.must_eq(await t.call_ok("Interpreter", "get", "n", key=key), 2, "stored counter")


@case("ST-016", "a key cleared by an earlier invocation is not listed", requirements=["JRN-STATE-5", "JRN-STATE-3"])
async def keys_after_clear_across(t: CaseContext) -> None:
    key = t.uid()
    await t.interpret_ok(key, [{"op": "set", "key": "a", "value": 1}, {"op": "set", "key": "b", "value": 2}])
    await t.interpret_ok(key, [{"op": "clear", "key": "b"}])
    t.must_eq(await t.interpret_ok(key, [{"op": "keys"}]), [["a"]], "keys")
