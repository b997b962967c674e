"""Durable steps (``ctx.run``): exactly-once results, retries, exhaustion, terminal failures (spec/03)."""

from __future__ import annotations

from ..context import CaseContext
from ..registry import case


@case("RUN-001", "a run's result is returned to the handler", requirements=["JRN-RUN-1", "TS-INTERP-1"])
async def run_result(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [{"op": "run", "value": {"a": 1}}, {"op": "run", "value": None}])
    t.must_eq(out, [{"a": 1}, None], "run results")


@case("RUN-002", "n sequential runs execute their effect exactly n times", requirements=["JRN-RUN-2", "TS-UTILS-4", "TS-GEN-2"])
async def runs_exactly_once(t: CaseContext) -> None:
    tag = t.uid("fx")
    out = await t.call_ok("TestUtilsService", "countExecutedSideEffects", {"tag": tag, "n": 5})
    t.must_eq(out, 5, "sum of run results")
    t.must_eq(await t.effects(tag), 5, "effect executions (ledger)")


@case("RUN-003", "a step acknowledged before a retried failure is not executed again",
      requirements=["JRN-RUN-2", "JRN-RUN-3", "ERR-RETRY-1"])
async def no_rerun_after_retry(t: CaseContext) -> None:
    tag = t.uid("fx")
    out = await t.interpret_ok(t.uid(), [
        {"op": "run", "effect": tag, "value": "done"},
        {"op": "failRetryable", "tag": t.uid("fail"), "times": 2},
        {"op": "run", "effect": tag, "value": "again"},
    ])
    t.must_eq(out[0], "done", "first run result")
    t.must_eq(await t.effects(tag), 2, "effect executions: each run exactly once despite 2 failed attempts")


@case("RUN-004", "a run retried by its policy eventually succeeds", requirements=["JRN-RUN-4", "TS-FAILING-4"])
async def run_retry_success(t: CaseContext) -> None:
    t.must_eq(await t.call_ok("Failing", "sideEffectSucceedsAfterGivenAttempts", 3, key=t.uid()), 3, "attempts")


@case("RUN-005", "a run whose retry policy is exhausted fails terminally", requirements=["JRN-RUN-5", "TS-FAILING-5"])
async def run_retry_exhausted(t: CaseContext) -> None:
    t.must_eq(await t.call_ok("Failing", "sideEffectFailsAfterGivenAttempts", 3, key=t.uid()), 3,
              "attempts before the terminal error")


@case("RUN-006", "a run raising a terminal error is not retried and fails the invocation",
      requirements=["JRN-RUN-6", "ERR-TERM-1", "TS-FAILING-3"])
async def run_terminal(t: CaseContext) -> None:
    key = t.uid()
    r = await t.call("Failing", "terminallyFailingSideEffect", {"errorMessage": "run-boom"}, key=key)
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must("run-boom" in r.text, f"error message not propagated: {r.text}")
    t.must_eq(await t.effects(f"tfse:{key}"), 1, "executions of the terminally failing run")


@case("RUN-007", "a run result is stable after a suspension (stored, not recomputed)", requirements=["JRN-RUN-2", "JRN-REPLAY-1"])
async def run_result_stable(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(key, [
        {"op": "run", "random": True, "setKey": "r"},
        {"op": "sleep", "ms": 50},
        {"op": "get", "key": "r"},
    ])
    t.must_eq(out[2], out[0], "state written from the run result vs the run result")
    t.must_eq(await t.call_ok("Interpreter", "get", "r", key=key), out[0], "stored value")


@case("RUN-008", "a terminal run failure can be caught and the handler continues", requirements=["JRN-RUN-6", "ERR-TERM-2"])
async def run_terminal_caught(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [
        {"op": "try", "body": [{"op": "run", "fail": "nope"}], "catch": [{"op": "set", "key": "c", "value": 1}]},
        {"op": "get", "key": "c"},
    ])
    t.must_eq(out[0].get("error"), "nope", "caught error")
    t.must_eq(out[1], 1, "state set by the catch block")


@case("RUN-009", "many runs with effects are each executed once", requirements=["JRN-RUN-2"])
async def many_runs(t: CaseContext) -> None:
    tag = t.uid("fx")
    cmds = [{"op": "run", "effect": tag, "value": i} for i in range(20)]
    out = await t.interpret_ok(t.uid(), cmds)
    t.must_eq(out, list(range(20)), "run results")
    t.must_eq(await t.effects(tag), 20, "effect executions")


@case("RUN-010", "runs interleaved with sleeps execute once each", requirements=["JRN-RUN-2", "JRN-TIMER-1"])
async def runs_and_sleeps(t: CaseContext) -> None:
    tag = t.uid("fx")
    cmds = []
    for i in range(4):
        cmds += [{"op": "run", "effect": tag, "value": i}, {"op": "sleep", "ms": 20}]
    out = await t.interpret_ok(t.uid(), cmds)
    t.must_eq(out[::2], [0, 1, 2, 3], "run results")
    t.must_eq(await t.effects(tag), 4, "effect executions")
