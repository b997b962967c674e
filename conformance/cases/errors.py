"""The error model: terminal vs retryable, codes, messages, metadata, propagation (spec/07)."""

from __future__ import annotations

from ..context import CaseContext
from ..model import Strength
from ..registry import case


@case("ERR-001", "a terminal error's message reaches the client", requirements=["ERR-TERM-1", "ERR-JSON-1", "TS-FAILING-1"])
async def terminal_message(t: CaseContext) -> None:
    r = await t.call("Failing", "terminallyFailingCall", {"errorMessage": "bad-input"}, key=t.uid())
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must_eq(r.json().get("message"), "bad-input", "message")


@case("ERR-002", "a terminal error's code becomes the HTTP status and the body code",
      requirements=["ING-CALL-4", "ERR-JSON-1"])
async def terminal_code(t: CaseContext) -> None:
    r = await t.call("Failing", "terminallyFailingCall", {"errorMessage": "teapot", "code": 418}, key=t.uid())
    t.must_eq(r.status_code, 418, "HTTP status")
    t.must_eq(r.json().get("code"), 418, "body code")


@case("ERR-003", "a terminal error's metadata reaches the client", requirements=["ERR-META-1"], strength=Strength.SHOULD)
async def terminal_metadata(t: CaseContext) -> None:
    r = await t.call("Failing", "terminallyFailingCall", {"errorMessage": "m", "metadata": {"k": "v"}}, key=t.uid())
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must_eq(r.json().get("metadata"), {"k": "v"}, "metadata")


@case("ERR-004", "a terminal error is not retried", requirements=["ERR-TERM-1", "ERR-RETRY-2"])
async def not_retried(t: CaseContext) -> None:
    tag = t.uid("fx")
    r = await t.interpret(t.uid(), [{"op": "run", "effect": tag, "value": 1}, {"op": "fail", "message": "stop"}])
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must_eq(await t.effects(tag), 1, "executions of the step before the terminal error")


@case("ERR-005", "a retryable failure is retried until the handler succeeds", requirements=["ERR-RETRY-1", "TS-FAILING-6"])
async def retried(t: CaseContext) -> None:
    t.must_eq(await t.call_ok("Failing", "failingCallWithEventualSuccess", key=t.uid()), 4, "attempt that succeeded")


@case("ERR-006", "a terminal error propagates through a call with its message", requirements=["ERR-TERM-4", "JRN-CALL-3"])
async def via_call(t: CaseContext) -> None:
    r = await t.interpret(t.uid(), [{"op": "call", "service": "Failing", "handler": "terminallyFailingCall",
                                     "key": t.uid(), "input": {"errorMessage": "inner-msg"}}])
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must("inner-msg" in r.text, f"message lost: {r.text}")


@case("ERR-007", "a terminal error from a call can be caught and compensated", requirements=["ERR-TERM-2", "JRN-CALL-3"])
async def caught(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [{"op": "try", "body": [
        {"op": "call", "service": "Failing", "handler": "terminallyFailingCall", "key": t.uid(),
         "input": {"errorMessage": "caught-me"}}], "catch": [{"op": "set", "key": "rolled-back", "value": True}]},
        {"op": "get", "key": "rolled-back"}])
    t.must_eq(out[0].get("error"), "caught-me", "caught message")
    t.must_eq(out[1], True, "catch block ran")


@case("ERR-008", "a caught terminal error keeps its code", requirements=["ERR-TERM-2", "JRN-FAIL-1"])
async def caught_code(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [{"op": "try", "body": [{"op": "fail", "message": "gone", "code": 410}]}])
    t.must_eq((out[0].get("error"), out[0].get("code")), ("gone", 410), "caught error")


@case("ERR-009", "an error answer is JSON with content-type application/json", requirements=["ERR-JSON-1"],
      strength=Strength.SHOULD)
async def json_content_type(t: CaseContext) -> None:
    r = await t.call("Failing", "terminallyFailingCall", {"errorMessage": "ct"}, key=t.uid())
    t.must(r.status_code >= 400, f"status {r.status_code}")
    t.must("application/json" in r.headers.get("content-type", ""), f"content-type {r.headers.get('content-type')}")


@case("ERR-010", "a terminal failure is retained: attach returns the same failure", requirements=["ERR-TERM-1", "ING-ATTACH-1"])
async def retained_failure(t: CaseContext) -> None:
    inv = await t.send_ok("Failing", "terminallyFailingCall", {"errorMessage": "kept", "code": 422}, key=t.uid(),
                          idempotency_key=t.uid("ik"))
    r1 = await t.attach(inv)
    r2 = await t.attach(inv)
    t.must_eq((r1.status_code, r2.status_code), (422, 422), "attach statuses")
    t.must("kept" in r2.text, f"message {r2.text}")


@case("ERR-011", "a retryable failure after state writes does not leak partial writes", requirements=["ERR-RETRY-1", "JRN-STATE-4"])
async def no_partial(t: CaseContext) -> None:
    key = t.uid()
    out = await t.interpret_ok(key, [
        {"op": "append", "key": "l", "value": "a"},
        {"op": "failRetryable", "tag": t.uid("f"), "times": 1},
        {"op": "append", "key": "l", "value": "b"},
    ])
    t.must_eq(out[2], ["a", "b"], "list after a retried attempt")
