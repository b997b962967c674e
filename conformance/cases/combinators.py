"""Combinators over futures: first-completed, all-completed, first-succeeded, all-succeeded (spec/03)."""

from __future__ import annotations

from typing import Any

from ..context import CaseContext
from ..registry import case

_ECHO = {"call": {"service": "TestUtilsService", "handler": "echo", "input": "called"}}

# (id, title, awaitables, mode, expected result or ("error", substring))
TABLE: list[tuple[str, str, list[dict[str, Any]], str, Any]] = [
    ("CMB-001", "first-completed: a 50 ms sleep beats a 10 s sleep", [{"sleep": 10000}, {"sleep": 50}], "first",
     {"index": 1, "value": None}),
    ("CMB-002", "first-completed: a run beats a long sleep", [{"run": "r"}, {"sleep": 10000}], "first",
     {"index": 0, "value": "r"}),
    ("CMB-003", "first-completed: a call beats a long sleep", [{"sleep": 10000}, _ECHO], "first",
     {"index": 1, "value": "called"}),
    ("CMB-004", "first-completed reports a failure that completes first", [{"runFail": "f1"}, {"sleep": 10000}], "first",
     {"index": 0, "error": "f1"}),
    ("CMB-005", "all-completed returns every outcome in order", [{"sleep": 50}, {"run": 1}, {"run": 2}], "all",
     [{"value": None}, {"value": 1}, {"value": 2}]),
    ("CMB-006", "all-completed includes failures without failing", [{"runFail": "x"}, {"run": "ok"}], "all",
     [{"error": "x"}, {"value": "ok"}]),
    ("CMB-007", "first-succeeded skips failures", [{"runFail": "a"}, {"runFail": "b"}, {"run": "ok"}], "firstSucceeded",
     {"index": 2, "value": "ok"}),
    ("CMB-008", "first-succeeded fails when all fail", [{"runFail": "a"}, {"runFail": "b"}], "firstSucceeded",
     ("error", "all failed")),
    ("CMB-009", "all-succeeded returns values in order", [{"run": 1}, _ECHO, {"sleep": 30}], "allSucceeded",
     [1, "called", None]),
    ("CMB-010", "all-succeeded fails with the first failure", [{"run": 1}, {"runFail": "bad"}], "allSucceeded",
     ("error", "bad")),
    ("CMB-011", "all-completed over calls keeps the call order", [_ECHO, {"call": {"service": "TestUtilsService",
     "handler": "uppercaseEcho", "input": "x"}}], "all", [{"value": "called"}, {"value": "X"}]),
    ("CMB-012", "first-succeeded over a failing run and a sleep picks the sleep", [{"runFail": "a"}, {"sleep": 100}],
     "firstSucceeded", {"index": 1, "value": None}),
]


def _make(awaitables: list[dict[str, Any]], mode: str, expected: Any) -> Any:
    async def fn(t: CaseContext) -> None:
        cmd = {"op": "await", "mode": mode, "of": awaitables}
        if isinstance(expected, tuple):
            r = await t.interpret(t.uid(), [cmd])
            t.must(r.status_code >= 400, f"expected a terminal failure, got {r.status_code} {r.text[:200]}")
            t.must(expected[1] in r.text, f"failure should mention {expected[1]!r}: {r.text[:300]}")
            return
        out = await t.interpret_ok(t.uid(), [cmd])
        t.must_eq(out[0], expected, f"{mode} result")

    return fn


for _id, _title, _aw, _mode, _exp in TABLE:
    case(_id, _title, requirements=["JRN-COMB-1", "TS-INTERP-3"])(_make(_aw, _mode, _exp))


@case("CMB-013", "first-completed: an awakeable resolved from outside beats a long sleep",
      requirements=["JRN-COMB-1", "JRN-AWK-1"], capabilities=["ingress.awakeables"])
async def awakeable_vs_sleep(t: CaseContext) -> None:
    key, holder = t.uid(), t.uid("h")
    inv = await t.send_ok("Interpreter", "run", {"commands": [
        {"op": "await", "mode": "first", "of": [{"sleep": 20000}, {"awakeable": holder}]}]}, key=key,
        idempotency_key=t.uid("ik"))
    aid = await t.wait_awakeable(holder)
    await t.resolve_awakeable(aid, "woken")
    t.must_eq((await t.attach(inv)).json(), [{"index": 1, "value": "woken"}], "output")


@case("CMB-014", "an awakeable-or-timeout times out when nobody resolves it", requirements=["JRN-COMB-1", "JRN-TIMER-1"])
async def awakeable_timeout(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [{"op": "await", "mode": "first",
                                          "of": [{"awakeable": t.uid("h")}, {"sleep": 100}]}])
    t.must_eq(out[0], {"index": 1, "value": None}, "timeout wins")
