"""Determinism: journal mismatches are detected and leak no side effects; replay is stable.

The NonDeterministic handlers take a different path on each attempt. A divergence only shows
on replay, so the mismatch cases apply to the always-suspend mode (every wait suspends and
the next attempt replays); in the default mode an implementation may legitimately never
replay, and the cases are SKIPPED there.
"""

from __future__ import annotations

from ..context import CaseContext
from ..model import Mode
from ..registry import case

REPLAY = [Mode.ALWAYS_SUSPEND]


def _mismatch(handler: str) -> object:
    async def fn(t: CaseContext) -> None:
        key = t.uid()
        r = await t.call("NonDeterministic", handler, key=key, timeout=20)
        t.must(r.status_code >= 400, f"a non-deterministic handler completed successfully ({r.status_code})")
        t.must_eq(await t.call_ok("Counter", "get", key=key), 0,
                  "the send after the divergence leaked (Counter incremented)")

    return fn


for _i, _h in enumerate(["eitherSleepOrCall", "callDifferentMethod", "backgroundInvokeWithDifferentTargets",
                         "setDifferentKey"]):
    case(f"DET-00{_i + 1}", f"a journal mismatch ({_h}) fails the invocation and leaks nothing",
         requirements=["JRN-REPLAY-2", "JRN-REPLAY-3", "TS-NONDET-1"], modes=REPLAY,
         capabilities=["services.retry_policy"], timeout_s=25)(_mismatch(_h))  # type: ignore[arg-type]


@case("DET-005", "ctx.uuid is stable across replay", requirements=["JRN-REPLAY-1", "JRN-DET-1"])
async def uuid_stable(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(key, [{"op": "uuid", "setKey": "u"}, {"op": "sleep", "ms": 20}, {"op": "get", "key": "u"}])
    t.must_eq(out[2], out[0], "uuid stored before the sleep vs the uuid returned")


@case("DET-006", "a run's result seen before and after a suspension is the same", requirements=["JRN-REPLAY-1"])
async def run_stable(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [
        {"op": "run", "random": True, "setKey": "a"}, {"op": "sleep", "ms": 20},
        {"op": "run", "random": True, "setKey": "b"}, {"op": "sleep", "ms": 20},
        {"op": "get", "key": "a"}, {"op": "get", "key": "b"},
    ])
    t.must_eq(out[4:], [out[0], out[2]], "stored run results")


@case("DET-007", "every step's effect runs once while replaying at every wait", requirements=["JRN-RUN-2", "JRN-REPLAY-1"],
      modes=REPLAY)
async def effects_once_replay(t: CaseContext) -> None:
    tag = t.uid("fx")
    cmds: list[dict[str, object]] = []
    for i in range(5):
        cmds += [{"op": "run", "effect": tag, "value": i}, {"op": "sleep", "ms": 10}]
    out = await t.interpret_ok(t.uid(), cmds)
    t.must_eq(out[::2], list(range(5)), "results")
    t.must_eq(await t.effects(tag), 5, "effect executions")


@case("DET-008", "a handler replayed with a stored call result sees the same result", requirements=["JRN-REPLAY-1", "JRN-CALL-1"])
async def call_stable(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(t.uid(), [
        {"op": "call", "service": "Counter", "handler": "add", "key": key, "input": 1},
        {"op": "sleep", "ms": 20},
        {"op": "call", "service": "Counter", "handler": "add", "key": key, "input": 1},
    ])
    t.must_eq([out[0], out[2]], [{"oldValue": 0, "newValue": 1}, {"oldValue": 1, "newValue": 2}], "call results")
    t.must_eq(await t.call_ok("Counter", "get", key=key), 2, "callee ran once per call")
