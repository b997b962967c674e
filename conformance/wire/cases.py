"""Server wire conformance: the kit plays a scripted SDK and checks what the server sends.

Every case registers its own :class:`~conformance.wire.sdk.ScriptedSdk` (unique service names),
starts invocations through the ingress, scripts the SDK's answer per attempt and asserts on the
requests the server sent (chapters 02, 03 and 04, the server's side). Every recorded request is
also checked against the framing rules and the message schemas.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from ..context import CaseContext
from ..model import Mode, Strength
from ..registry import case
from .sdk import (
    CT,
    END,
    MANIFEST_CT,
    RESUME_MISS,
    Reply,
    Req,
    ScriptedSdk,
    awakeable_id,
    error,
    failure_output,
    manifest,
    nd,
    now_ms,
    output,
    propose,
    run_cmd,
    service,
    set_state,
    sleep_cmd,
    suspension,
)

Json = Any
CAP = "wire.durable_v1"
DEFAULT_ONLY = (Mode.DEFAULT,)


def wire(id: str, title: str, requirements: list[str], *, modes: tuple[Mode, ...] = (Mode.DEFAULT, Mode.ALWAYS_SUSPEND),
         capabilities: tuple[str, ...] = (), strength: Strength = Strength.MUST,
         timeout_s: float = 20.0) -> Callable[[Any], Any]:
    return case(id, title, requirements=requirements, capabilities=(CAP, *capabilities), modes=modes,
                strength=strength, timeout_s=timeout_s)


def by_attempt(*replies: Reply | Callable[[Req], Reply]) -> Callable[[Req], Reply]:
    """Answer attempt n with replies[n] (the last one repeats)."""

    def script(req: Req) -> Reply:
        r = replies[min(req.n, len(replies) - 1)]
        return r(req) if callable(r) else r

    return script


def ok(*msgs: Json) -> Reply:
    return Reply(nd(*msgs))


def done(value: Json = None) -> Callable[[Req], Reply]:
    """Output ``value`` at the end of the journal the request announced, then end."""
    return lambda req: ok(output(int(req.start["journal_length"]), value), END)


async def one_service(ctx: CaseContext, script: Callable[[Req], Reply], ty: str = "SERVICE",
                      handler: str | Json = "run", **opts: Json) -> tuple[ScriptedSdk, str]:
    name = ScriptedSdk.name()
    hname = handler if isinstance(handler, str) else handler["name"]
    sdk = ScriptedSdk(ctx, [service(name, [handler], ty, **opts)], {f"{name}/{hname}": script})
    return sdk, name


async def send(ctx: CaseContext, svc: str, handler: str = "run", body: Json = None, key: str | None = None) -> str:
    return await ctx.send_ok(svc, handler, body, key=key)


async def result(ctx: CaseContext, inv: str, timeout: float = 10.0) -> tuple[int, Json]:
    r = await ctx.attach(inv, timeout=timeout)
    return r.status_code, (r.json() if r.content else None)


def same_failure_code(ctx: CaseContext, status: int, body: Json, code: int, what: str) -> None:
    ctx.must(isinstance(body, dict) and body.get("code") == code,
             f"{what}: expected a failure with code {code}, got {status} {body!r}")


# ====================================================================== request shape


@wire("WIRE-S-001", "an attempt is POST {deployment}/invoke/{service}/{handler}", ["WIRE-HTTP-1", "DISC-1"])
async def invoke_path(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done("x"))
    sdk.prefix = "/some/base"
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        [req] = await sdk.attempts(inv, 1)
        ctx.must_eq(req.method, "POST", "method of the invoke request")
        ctx.must_eq(req.path, f"/some/base/invoke/{svc}/run", "invoke path")
        st, body = await result(ctx, inv)
        ctx.must_eq((st, body), (200, "x"), "result of the invocation")


@wire("WIRE-S-002", "invoke requests carry the v1 invocation media type as content-type and accept",
      ["WIRE-NEG-1", "VER-PROTO-1", "VER-PROTO-4"])
async def media_types(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done())
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        [req] = await sdk.attempts(inv, 1)
        for h in ("content-type", "accept"):
            got = req.headers.get(h, "").split(";", 1)[0].strip().lower()
            ctx.must_eq(got, CT, f"{h} header of the invoke request")


@wire("WIRE-S-003", "the registered additional_headers go with discovery and every invoke request",
      ["WIRE-HTTP-7", "ADM-DEP-7"])
async def additional_headers(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "again")), done()))
    async with sdk:
        reg = await sdk.register(headers={"x-wire-token": "t0k3n", "x-other": "2"})
        listed = await ctx.admin_get("/deployments")
        for what, text in (("POST /deployments", reg.text), ("GET /deployments", listed.text)):
            ctx.must("t0k3n" not in text, f"{what} returns an additional header's value")
        ctx.must(sdk.discovers, "no discovery request was seen")
        for r in sdk.discovers:
            ctx.must_eq((r.headers.get("x-wire-token"), r.headers.get("x-other")), ("t0k3n", "2"),
                        "additional headers of the discovery request")
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2)
        for r in reqs:
            ctx.must_eq((r.headers.get("x-wire-token"), r.headers.get("x-other")), ("t0k3n", "2"),
                        f"additional headers of invoke attempt {r.n}")


@wire("WIRE-S-004", "start of a plain-service invocation: fields, entry 0 is input, no key or state",
      ["WIRE-REQ-1", "WIRE-REQ-2", "WIRE-REQ-3", "WIRE-REQ-4", "WIRE-REQ-5", "WIRE-REQ-9", "WIRE-REQ-10",
       "JRN-LOG-1", "JRN-LOG-3", "WIRE-MSG-5", "WIRE-MSG-7", "VER-CONF-3", "WIRE-FRAME-1", "WIRE-FRAME-2",
       "WIRE-FRAME-3", "WIRE-MSG-6", "VER-ID-1", "WIRE-HTTP-3", "DISC-MAN-9", "ING-VALID-8"])
async def start_plain(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done())
    async with sdk:
        await sdk.register()
        inv = await ctx.send_ok(svc, "run", {"a": [1, 2]}, headers={"x-user": "u1"})
        [req] = await sdk.attempts(inv, 1)
        st = req.start
        ctx.must_eq(st.get("type"), "start", "type of the first frame")
        ctx.must(not any(f.get("type") == "start" for f in req.entries), "a second start frame")
        for k, v in (("invocation_id", inv), ("service", svc), ("handler", "run"), ("journal_length", 1),
                     ("resume_from", 0), ("retry_count", 0)):
            ctx.must_eq(st.get(k), v, f"start.{k}")
        ctx.must(str(inv).startswith("inv_"), f"invocation id {inv!r}")
        for k in ("key", "state", "resume_attempt_id"):
            ctx.must(k not in st, f"start.{k} must be absent for a plain service on a full journal: {st}")
        ctx.must(isinstance(st.get("attempt_id"), str) and st["attempt_id"], "start.attempt_id")
        ctx.must(isinstance(st.get("random_seed"), int) and st["random_seed"] >= 0, "start.random_seed")
        ctx.must(isinstance(st.get("retry_duration_ms"), int), "start.retry_duration_ms")
        ctx.must_eq(len(req.entries), 1, "number of entries after start")
        e0 = req.entries[0]
        ctx.must_eq((e0.get("type"), e0.get("index")), ("input", 0), "entry 0")
        ctx.must_eq(e0.get("parameter"), {"value": {"a": [1, 2]}}, "input parameter")
        ctx.must_eq(e0.get("headers", {}).get("x-user"), "u1", "input headers carry the request header")


@wire("WIRE-S-005", "start of a virtual-object invocation carries the key and the (empty) state",
      ["WIRE-REQ-8", "WIRE-REQ-10", "JRN-VO-5"])
async def start_keyed(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done(), ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        key = ctx.uid()
        inv = await send(ctx, svc, key=key)
        [req] = await sdk.attempts(inv, 1)
        ctx.must_eq(req.start.get("key"), key, "start.key")
        ctx.must_eq(req.start.get("state"), {}, "start.state of a key without state")


@wire("WIRE-S-006", "state written by set_state is sent in full in start.state of the next invocation of the key",
      ["WIRE-REQ-8", "JRN-CMD-1", "JRN-STATE-1", "JRN-LOG-4"])
async def state_sent(ctx: CaseContext) -> None:
    def script(req: Req) -> Reply:
        if req.start.get("state"):
            return done("second")(req)
        return ok(set_state(1, "a", {"n": 1}), set_state(2, "b", "two"), output(3, "first"), END)

    sdk, svc = await one_service(ctx, script, ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        key = ctx.uid()
        inv1 = await send(ctx, svc, key=key)
        ctx.must_eq(await result(ctx, inv1), (200, "first"), "first invocation")
        inv2 = await send(ctx, svc, key=key)
        [req] = await sdk.attempts(inv2, 1)
        ctx.must_eq(req.start.get("state"), {"a": {"value": {"n": 1}}, "b": {"value": "two"}},
                    "start.state after the first invocation's writes")


@wire("WIRE-S-007", "a body that is not JSON reaches the handler as value_bytes in standard base64",
      ["WIRE-VAL-2", "WIRE-VAL-4", "WIRE-VAL-1", "ING-VALID-8"])
async def bytes_input(ctx: CaseContext) -> None:
    h = {"name": "run", "input": {"contentType": "application/octet-stream"}}
    sdk, svc = await one_service(ctx, done(), handler=h)
    async with sdk:
        await sdk.register()
        raw = bytes(range(250, 256)) + b"\x00\xff?>"
        r = await ctx.send(svc, "run", raw=raw)
        ctx.must(r.status_code == 202, f"send: {r.status_code} {r.text[:200]}")
        inv = r.json()["invocationId"]
        [req] = await sdk.attempts(inv, 1)
        import base64

        ctx.must_eq(req.entries[0].get("parameter"), {"value_bytes": base64.b64encode(raw).decode()},
                    "input parameter of a binary body")


@wire("WIRE-S-008", "every attempt of one invocation has a fresh attempt_id and the same random_seed",
      ["WIRE-REQ-6", "WIRE-REQ-7", "VER-PROTO-5"])
async def attempt_ids(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "a")), ok(error(500, "b")), done()))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 3)
        ids = [r.start.get("attempt_id") for r in reqs]
        ctx.must(len(set(ids)) == len(ids), f"attempt ids repeat: {ids}")
        seeds = {r.start.get("random_seed") for r in reqs}
        ctx.must(len(seeds) == 1, f"random_seed differs between attempts: {seeds}")
        ctx.must(all(r.headers.get("content-type", "").lower().startswith(CT) for r in reqs),
                 "protocol version changed between attempts")


# ====================================================================== outcomes


@wire("WIRE-S-010", "output + end completes the invocation; no further attempt is sent",
      ["JRN-CMD-7", "JRN-FAIL-2", "WIRE-RESP-10"])
async def output_ends(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done({"ok": True}))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, {"ok": True}), "result")
        await sdk.quiet(inv, 1, 0.4)


@wire("WIRE-S-011", "a failure output ends the invocation with that failure and is never retried",
      ["JRN-FAIL-2", "ERR-TERM-1", "ERR-RETRY-2"])
async def failure_ends(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, lambda req: ok(failure_output(1, 418, "teapot"), END))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        st, body = await result(ctx, inv)
        same_failure_code(ctx, st, body, 418, "result")
        ctx.must_eq(body.get("message"), "teapot", "failure message")
        await sdk.quiet(inv, 1, 0.4)


@wire("WIRE-S-012", "an error terminator is retried: new attempt, full journal, retry_count 1",
      ["JRN-RETRY-1", "ERR-RETRY-1", "JRN-RETRY-5", "WIRE-REQ-11", "JRN-FAIL-3"])
async def error_retried(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "flaky")), done("ok")))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2)
        st = reqs[1].start
        ctx.must_eq((st.get("resume_from"), st.get("journal_length"), st.get("retry_count")), (0, 1, 1),
                    "(resume_from, journal_length, retry_count) of the retry")
        ctx.must_eq([e.get("type") for e in reqs[1].entries], ["input"], "entries of the retry")
        ctx.must_eq(await result(ctx, inv), (200, "ok"), "result after the retry")


@wire("WIRE-S-013", "the retry delay follows the manifest retry policy (initial interval)",
      ["JRN-RETRY-2", "JRN-RETRY-3", "DISC-OPT-1"])
async def backoff_delay(ctx: CaseContext) -> None:
    h = {"name": "run", "retryPolicyInitialInterval": 300, "retryPolicyExponentiationFactor": 1}
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "x")), done()), handler=h,
                                 retryPolicyInitialInterval=5000)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2, timeout=4)
        gap = reqs[1].at - reqs[0].replied_at
        ctx.must(gap >= 0.27, f"retry came {gap * 1000:.0f} ms after the failure; the policy says 300 ms")
        ctx.must(gap < 3.0, f"retry came {gap * 1000:.0f} ms after the failure; the handler's 300 ms "
                 "must override the service's 5000 ms")


@wire("WIRE-S-014", "next_retry_delay_ms of an error replaces the policy's delay for that retry",
      ["JRN-RETRY-2"])
async def next_retry_delay(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "x", next_retry_delay_ms=400)),
                                                 ok(error(500, "y", next_retry_delay_ms=10)), done()),
                                 retryPolicyInitialInterval=20000)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 3, timeout=6)
        gap1 = reqs[1].at - reqs[0].replied_at
        gap2 = reqs[2].at - reqs[1].replied_at
        ctx.must(gap1 >= 0.37, f"first retry after {gap1 * 1000:.0f} ms; next_retry_delay_ms said 400")
        ctx.must(gap2 < 3.0, f"second retry after {gap2 * 1000:.0f} ms; next_retry_delay_ms said 10 "
                 "(the policy's 20 s must not apply)")


@wire("WIRE-S-015", "retry policy exhausted: terminal failure with the last attempt's code and message",
      ["JRN-RETRY-4"])
async def max_attempts(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "first")), ok(error(503, "last one"))),
                                 retryPolicyMaxAttempts=2)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        st, body = await result(ctx, inv)
        same_failure_code(ctx, st, body, 503, "result after the last attempt")
        ctx.must("last one" in str(body.get("message")), f"failure message: {body!r}")
        await sdk.quiet(inv, 2, 0.3)


@wire("WIRE-S-016", "retry_count counts failed attempts since the journal last grew",
      ["JRN-RETRY-5", "WIRE-REQ-11"])
async def retry_count(ctx: CaseContext) -> None:
    # 0: run + error (appends then fails -> 1); 1: error (-> 2); 2: propose + suspension (grows -> 0); 3: done
    sdk, svc = await one_service(ctx, by_attempt(
        ok(run_cmd(1, 1), error(500, "a")), ok(error(500, "b")),
        lambda req: ok(propose(1, 5), suspension(1)) if req.start["resume_from"] == 0 else done()(req),
        done()))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 4)
        counts = [r.start.get("retry_count") for r in reqs[:4]]
        ctx.must_eq(counts, [0, 1, 2, 0], "retry_count of attempts 0..3")


@wire("WIRE-S-017", "retry_duration_ms is the time since the journal last grew",
      ["JRN-RETRY-6", "WIRE-REQ-11"])
async def retry_duration(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(error(500, "a")), ok(error(500, "b")), done()),
                                 retryPolicyInitialInterval=250)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 3)
        d = [int(r.start.get("retry_duration_ms", -1)) for r in reqs]
        ctx.must(0 <= d[0] < 2000, f"retry_duration_ms of the first attempt: {d[0]}")
        elapsed = (reqs[2].at - reqs[0].at) * 1000
        ctx.must(d[2] >= 450 and d[2] <= elapsed + 1000,
                 f"retry_duration_ms of the third attempt is {d[2]}; about {elapsed:.0f} ms passed since the start")
        ctx.must(d[1] < d[2], f"retry_duration_ms must grow while the journal does not: {d}")


# ====================================================================== journal persistence


@wire("WIRE-S-020", "commands of a response ending in error are persisted and sent on the retry",
      ["WIRE-RESP-10", "WIRE-RESP-9", "JRN-LOG-4", "ERR-RETRY-1", "JRN-LOG-2", "WIRE-REQ-2"])
async def commands_before_error(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(
        ok(set_state(1, "k", 1), run_cmd(2, 1, "r"), error(500, "after commands")), done()),
        ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc, key=ctx.uid())
        reqs = await sdk.attempts(inv, 2)
        r = reqs[1]
        ctx.must_eq((r.start.get("resume_from"), r.start.get("journal_length")), (0, 3),
                    "(resume_from, journal_length) of the retry")
        ctx.must_eq([(e.get("type"), e.get("index")) for e in r.entries],
                    [("input", 0), ("set_state", 1), ("run", 2)], "journal of the retry")
        ctx.must_eq(r.entries[1], set_state(1, "k", 1), "stored set_state command")
        ctx.must_eq(r.start.get("state"), {"k": {"value": 1}}, "start.state after the stored set_state")


@wire("WIRE-S-021", "a run proposal is stored as a completion and the suspended invocation resumes at once",
      ["JRN-RUN-3", "JRN-RUN-8", "WIRE-RESP-9", "JRN-SUSP-5", "JRN-CID-5"])
async def run_proposal(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(run_cmd(1, 1), propose(1, {"r": 42}), suspension(1)),
                                                 done("fin")))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2, timeout=5)
        r = reqs[1]
        ctx.must_eq(r.start.get("journal_length"), 3, "journal_length after run + proposal")
        full = {e["index"]: e for e in r.entries}
        ctx.must(2 in full, f"the completion (index 2) was not sent: {r.entries}")
        ctx.must_eq(full[2], {"type": "completion", "index": 2, "completion_id": 1, "value": {"r": 42}},
                    "stored completion of the run")
        if r.start.get("resume_from") == 0:
            ctx.must_eq([e["type"] for e in r.entries], ["input", "run", "completion"], "full journal")
        ctx.must_eq(await result(ctx, inv), (200, "fin"), "result")


@wire("WIRE-S-022", "a second proposal for a completed run never adds a second completion (ignored or rejected)",
      ["JRN-RUN-3", "JRN-CID-5"])
async def duplicate_proposal(ctx: CaseContext) -> None:
    def script(req: Req) -> Reply:
        if req.n == 0:
            return ok(run_cmd(1, 1), propose(1, "first"), suspension(1))
        if req.n == 1:  # propose again for the completed run (the server ignores it, JRN-RUN-3, or
            # rejects the response, WIRE-RESP-6), then fail to force a full replay
            return ok(propose(1, "second"), error(500, "again"))
        return done()(req)

    sdk, svc = await one_service(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 3)
        r = reqs[2]
        comps = [e for e in r.entries if e.get("type") == "completion"]
        ctx.must(r.start.get("resume_from") == 0, "a retry after an error must send the full journal")
        ctx.must_eq(len(comps), 1, f"completions in the journal ({comps})")
        ctx.must_eq(comps[0].get("value"), "first", "the first proposal wins")


@wire("WIRE-S-023", "a sleep suspends; the timer's completion resumes the invocation, never early",
      ["JRN-TIMER-1", "JRN-SUSP-4", "JRN-SUSP-7", "VER-NUM-1"])
async def sleep_resume(ctx: CaseContext) -> None:
    wake: list[int] = []

    def script(req: Req) -> Reply:
        if req.n == 0:
            wake.append(now_ms() + 400)
            return ok(sleep_cmd(1, 1, wake[0]), suspension(1))
        return done("woke")(req)

    sdk, svc = await one_service(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2, timeout=6)
        arrived = time.time() * 1000
        ctx.must(arrived >= wake[0] - 5, f"resumed {wake[0] - arrived:.0f} ms before the wake-up time")
        comps = [e for e in reqs[1].entries if e.get("type") == "completion"]
        ctx.must_eq([(c.get("completion_id"), c.get("void")) for c in comps], [(1, True)],
                    "completion of the sleep")
        ctx.must_eq(await result(ctx, inv), (200, "woke"), "result")


@wire("WIRE-S-024", "a suspended invocation gets no request until a leaf completes; an awakeable resumes it",
      ["JRN-SUSP-7", "JRN-SUSP-4", "JRN-AWK-1", "JRN-CMD-3", "VER-ID-4"], capabilities=("ingress.awakeables",))
async def awakeable_resume(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(suspension(signals=(17,))), done("resolved")))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        await sdk.attempts(inv, 1)
        await sdk.quiet(inv, 1, 0.5)
        r = await ctx.resolve_awakeable(awakeable_id(inv, 17), {"v": 1})
        ctx.must(r.status_code in (200, 202, 204), f"resolve awakeable: {r.status_code} {r.text[:200]}")
        reqs = await sdk.attempts(inv, 2)
        sigs = [e for e in reqs[1].entries if e.get("type") == "signal"]
        ctx.must(sigs and sigs[0].get("signal_id") == 17 and sigs[0].get("value") == {"v": 1},
                 f"signal notification in the resumed attempt: {reqs[1].entries}")


@wire("WIRE-S-025", "warm resume names the suspended attempt and sends only the new entries",
      ["WIRE-REQ-2", "WIRE-REQ-5", "WIRE-WARM-3", "WIRE-REQ-9"], modes=DEFAULT_ONLY)
async def warm_resume(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(set_state(1, "s", 1), run_cmd(2, 1), propose(1, 7),
                                                    suspension(1)), done()), ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc, key=ctx.uid())
        reqs = await sdk.attempts(inv, 2)
        st = reqs[1].start
        if st.get("resume_from") == 0:
            ctx.note("the server does not warm-resume (resume_from 0); checked the full journal instead")
            ctx.must_eq([e.get("index") for e in reqs[1].entries], [0, 1, 2, 3], "full journal indices")
            return
        ctx.must_eq(st.get("resume_attempt_id"), reqs[0].start.get("attempt_id"), "start.resume_attempt_id")
        ctx.must_eq(st.get("resume_from"), 3, "start.resume_from (journal length when the SDK suspended)")
        ctx.must_eq(st.get("journal_length"), 4, "start.journal_length")
        ctx.must("state" not in st, "start.state must be absent on a warm resume")
        ctx.must_eq([e.get("index") for e in reqs[1].entries], [3], "entries of the warm resume")


@wire("WIRE-S-026", "resume_miss: the server at once resends the full journal, retry_count unchanged",
      ["WIRE-WARM-7", "WIRE-RESP-10"], modes=DEFAULT_ONLY)
async def resume_miss(ctx: CaseContext) -> None:
    def script(req: Req) -> Reply:
        if req.n == 0:
            return ok(run_cmd(1, 1), propose(1, 1), suspension(1))
        if req.start["resume_from"] > 0:
            return ok(RESUME_MISS)
        return done("after miss")(req)

    sdk, svc = await one_service(ctx, script, retryPolicyInitialInterval=20000)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2)
        if reqs[1].start.get("resume_from") == 0:
            raise ctx.skip("the server never sends resume_from > 0, so it never sees resume_miss")
        reqs = await sdk.attempts(inv, 3, timeout=3)
        st = reqs[2].start
        ctx.must_eq((st.get("resume_from"), st.get("journal_length"), st.get("retry_count")), (0, 3, 0),
                    "(resume_from, journal_length, retry_count) after resume_miss")
        ctx.must("resume_attempt_id" not in st, "resume_attempt_id with resume_from 0")
        ctx.must(reqs[2].at - reqs[1].replied_at < 2.0, "the full-journal attempt was not sent at once")
        ctx.must_eq(await result(ctx, inv), (200, "after miss"), "result")


@wire("WIRE-S-027", "always-suspend mode: every resumption sends the full journal",
      ["WIRE-WARM-8", "WIRE-REQ-8"], modes=(Mode.ALWAYS_SUSPEND,))
async def always_suspend(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(set_state(1, "s", "v"), run_cmd(2, 1), propose(1, 7),
                                                    suspension(1)), done()), ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc, key=ctx.uid())
        reqs = await sdk.attempts(inv, 2)
        st = reqs[1].start
        ctx.must_eq((st.get("resume_from"), st.get("journal_length")), (0, 4), "(resume_from, journal_length)")
        ctx.must("resume_attempt_id" not in st, "resume_attempt_id in always-suspend mode")
        ctx.must_eq([e.get("index") for e in reqs[1].entries], [0, 1, 2, 3], "entries of the resumption")
        ctx.must_eq(st.get("state"), {"s": {"value": "v"}}, "start.state of a full-journal resumption")


@wire("WIRE-S-028", "resume_miss answered to a full journal is a protocol violation (571), retried",
      ["WIRE-WARM-10", "ERR-CODE-6"])
async def resume_miss_full(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, lambda req: ok(RESUME_MISS), retryPolicyMaxAttempts=2)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2)
        ctx.must_eq(reqs[1].start.get("retry_count"), 1, "retry_count after the violating answer")
        st, body = await result(ctx, inv)
        same_failure_code(ctx, st, body, 571, "result after two violating answers")


@wire("WIRE-S-029", "a call starts the callee; the caller gets invocation_id then the callee's result",
      ["JRN-CALL-1", "JRN-CALL-4", "JRN-CALL-5", "WIRE-HTTP-1"])
async def call_flow(ctx: CaseContext) -> None:
    callee = ScriptedSdk.name("C")

    def caller(req: Req) -> Reply:
        if req.n == 0:
            return ok({"type": "call", "index": 1, "completion_id": 2, "invocation_id_completion_id": 1,
                       "service": callee, "handler": "echo", "parameter": {"value": "hi"},
                       "headers": {"x-h": "1"}}, suspension(2))
        comps = {e["completion_id"]: e for e in req.entries if e.get("type") == "completion"}
        if 2 not in comps:
            return ok(suspension(2))
        return done(comps[2].get("value"))(req)

    def echo(req: Req) -> Reply:
        return ok(output(1, ["echo", req.entries[0]["parameter"].get("value")]), END)

    name = ScriptedSdk.name()
    sdk = ScriptedSdk(ctx, [service(name, ["run"]), service(callee, ["echo"])],
                      {f"{name}/run": caller, f"{callee}/echo": echo})
    async with sdk:
        await sdk.register()
        inv = await send(ctx, name)
        ctx.must_eq(await result(ctx, inv), (200, ["echo", "hi"]), "caller's result")
        creq = await sdk.first(f"{callee}/echo")
        ctx.must_eq(creq.entries[0].get("headers", {}).get("x-h"), "1", "callee input headers")
        last = sdk.of(inv)[-1]
        comps = [e for e in last.entries if e.get("type") == "completion"]
        if last.start.get("resume_from") == 0:
            ctx.must_eq([c.get("completion_id") for c in comps], [1, 2], "order of the call's completions")
            ctx.must_eq(comps[0].get("invocation_id"), creq.invocation_id, "invocation_id completion")
        ctx.must_eq(comps[-1].get("value"), ["echo", "hi"], "result completion")


# ====================================================================== bad responses


def _violation_case(id: str, title: str, reqs: list[str], body: bytes | Callable[[Req], Reply],
                    *, code: int = 571, ty: str = "SERVICE") -> None:
    """The SDK answers every attempt badly: the server retries, appends nothing, fails with ``code``."""

    @wire(id, title, [*reqs, *(["WIRE-HTTP-9"] if "WIRE-HTTP-9" not in reqs else [])])
    async def fn(ctx: CaseContext) -> None:
        script = body if callable(body) else (lambda req: Reply(body))
        sdk, svc = await one_service(ctx, script, ty=ty, retryPolicyMaxAttempts=2)
        async with sdk:
            await sdk.register()
            inv = await send(ctx, svc, key=ctx.uid() if ty != "SERVICE" else None)
            reqs_ = await sdk.attempts(inv, 2)
            st = reqs_[1].start
            ctx.must_eq((st.get("journal_length"), st.get("retry_count")), (1, 1),
                        "(journal_length, retry_count) after a rejected response: nothing may be appended")
            if ty != "SERVICE":
                ctx.must_eq(st.get("state"), {}, "state after a rejected response")
            status, res = await result(ctx, inv)
            same_failure_code(ctx, status, res, code, "result after two rejected responses")

    fn.__name__ = f"violation_{id}"


_violation_case("WIRE-S-030", "a response frame that is not JSON rejects the whole response",
                ["WIRE-FRAME-5", "WIRE-RESP-8", "ERR-CODE-6", "ERR-PV-1"],
                nd(set_state(1, "k", 1)) + b"{not json\n" + nd(output(2, 1), END), ty="VIRTUAL_OBJECT")
_violation_case("WIRE-S-031", "a response without a terminator is rejected",
                ["WIRE-RESP-1", "WIRE-RESP-8"], nd(set_state(1, "k", 1), output(2, 1)), ty="VIRTUAL_OBJECT")
_violation_case("WIRE-S-032", "a truncated response (last frame without line feed) is rejected",
                ["WIRE-FRAME-3", "WIRE-RESP-8"], nd(set_state(1, "k", 1), output(2, 1)) + b'{"type":"end"}',
                ty="VIRTUAL_OBJECT")
_violation_case("WIRE-S-033", "a frame with an unknown message type is rejected",
                ["WIRE-MSG-2", "WIRE-MSG-1"], nd(set_state(1, "k", 1), {"type": "teleport", "index": 2},
                                                 output(2, 1), END), ty="VIRTUAL_OBJECT")
_violation_case("WIRE-S-034", "a message with a field its type does not define is rejected",
                ["WIRE-MSG-3", "VER-PROTO-7"], nd({**output(1, 1), "extra": 1}, END))
_violation_case("WIRE-S-035", "a message with a field of the wrong type is rejected",
                ["WIRE-MSG-4"], nd({"type": "run", "index": 1, "completion_id": "one"}, output(2, 1), END))
_violation_case("WIRE-S-036", "frames after the terminator are rejected",
                ["WIRE-RESP-1"], nd(output(1, 1), END, output(2, 2)))
_violation_case("WIRE-S-037", "commands with indices other than journal_length.. are rejected",
                ["WIRE-RESP-2", "JRN-LOG-3"], nd(run_cmd(2, 1), output(3, 1), END))
_violation_case("WIRE-S-038", "an input command or a notification from the SDK is rejected",
                ["WIRE-RESP-3", "WIRE-RESP-4"],
                nd({"type": "completion", "index": 1, "completion_id": 1, "void": True}, output(2, 1), END))
_violation_case("WIRE-S-039", "end without an output command is rejected",
                ["WIRE-RESP-5"], nd(run_cmd(1, 1), END))
_violation_case("WIRE-S-040", "a proposal for a completion id without a run command is rejected",
                ["WIRE-RESP-6", "JRN-RUN-10"], nd(run_cmd(1, 1), propose(5, 1), suspension(1)))
_violation_case("WIRE-S-041", "resume_miss together with other frames is rejected",
                ["WIRE-RESP-7"], nd(run_cmd(1, 1), RESUME_MISS))
_violation_case("WIRE-S-042", "a state write from a plain service is rejected",
                ["JRN-CMD-2"], nd(set_state(1, "k", 1), output(2, 1), END))
_violation_case("WIRE-S-043", "a completion id used twice is rejected",
                ["JRN-CID-4"], nd(run_cmd(1, 1), run_cmd(2, 1), output(3, 1), END))
_violation_case("WIRE-S-044", "a response with a non-invocation content type is rejected",
                ["WIRE-HTTP-9"], lambda req: Reply(nd(output(1, 1), END), content_type="application/json"))
_violation_case("WIRE-S-045", "a 415 answer is an attempt failure recorded with code 415",
                ["WIRE-NEG-5"],
                lambda req: Reply(b'{"code":415,"message":"unsupported"}', 415, "application/json"), code=415)
_violation_case("WIRE-S-046", "a non-200 answer is an attempt failure, retried",
                ["ERR-RETRY-1"], lambda req: Reply(b'{"code":502,"message":"down"}', 502, "application/json"),
                code=502)
_violation_case("WIRE-S-047", "a frame that is JSON but not an object is rejected",
                ["WIRE-FRAME-5"], b"[1,2]\n" + nd(output(1, 1), END))
_violation_case("WIRE-S-048", "a blank line in the response is rejected",
                ["WIRE-FRAME-2"], nd(output(1, 1)) + b"\n" + nd(END))
_violation_case("WIRE-S-049", "a value_bytes that is not padded standard base64 is rejected",
                ["WIRE-VAL-4"], nd({"type": "output", "index": 1, "value_bytes": "YWJj_-"}, END))
_violation_case("WIRE-S-050", "a result with two result keys is rejected",
                ["WIRE-VAL-1"], nd({"type": "output", "index": 1, "value": 1, "void": True}, END))


@wire("WIRE-S-051", "media types are compared case-insensitively, ignoring parameters",
      ["WIRE-NEG-4"])
async def media_type_params(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, lambda req: Reply(
        nd(output(1, "p"), END), content_type="Application/VND.durable.invocation.v1+NDJSON; charset=utf-8"))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "p"), "result")
        ctx.must_eq(len(sdk.of(inv)), 1, "attempts")


@wire("WIRE-S-052", "an attempt without a response within abortTimeout is aborted and retried",
      ["WIRE-HTTP-8"])
async def abort_timeout(ctx: CaseContext) -> None:
    h = {"name": "run", "abortTimeout": 300}
    sdk, svc = await one_service(ctx, by_attempt(Reply(nd(output(1, "late"), END), delay_s=8.0), done("on time")),
                                 handler=h)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.attempts(inv, 2, timeout=5)
        ctx.must(reqs[1].at - reqs[0].at < 4.0, "the retry came too late")
        ctx.must_eq(await result(ctx, inv), (200, "on time"), "result")


# ====================================================================== discovery


@wire("WIRE-S-060", "discovery is GET {deployment}/discover accepting the manifest media type",
      ["DISC-REQ-1", "ADM-DEP-1", "VER-ID-3"])
async def discovery_request(ctx: CaseContext) -> None:
    sdk, _ = await one_service(ctx, done())
    async with sdk:
        await sdk.register()
        ctx.must(sdk.discovers, "no discovery request")
        r = sdk.discovers[0]
        ctx.must_eq(r.method, "GET", "discovery method")
        ctx.must_eq(r.path, "/dep/discover", "discovery path")
        accept = [a.split(";", 1)[0].strip().lower() for a in r.headers.get("accept", "").split(",")]
        ctx.must(MANIFEST_CT in accept, f"accept header of the discovery request: {r.headers.get('accept')!r}")
        dep = (await sdk.register()).json()
        ctx.must(isinstance(dep.get("id"), str) and re.fullmatch(r"dp_[0-9A-Za-z]+", dep["id"]),
                 f"deployment id {dep.get('id')!r}")


def _refused_case(id: str, title: str, reqs: list[str], make: Callable[[str], Reply]) -> None:
    @wire(id, title, [*reqs, "DISC-REQ-5", "DISC-REG-3", "ADM-DEP-3"])
    async def fn(ctx: CaseContext) -> None:
        name = ScriptedSdk.name()
        sdk = ScriptedSdk(ctx, [service(name, ["run"])], discover_reply=make(name))
        async with sdk:
            r = await sdk.register(expect=None)
            ctx.must(r.status_code == 400, f"registration of a bad manifest: expected 400, got {r.status_code} "
                     f"{r.text[:200]}")
            svc = await ctx.call(name, "run", None)
            ctx.must(svc.status_code == 404, f"a refused deployment's service must stay unknown, got "
                     f"{svc.status_code}")
            ctx.must(not sdk.invokes, "the server invoked a refused deployment")

    fn.__name__ = f"refused_{id}"


def _man(name: str, **over: Json) -> Reply:
    return Reply(json.dumps(manifest([service(name, ["run"])], **over)).encode(), 200, MANIFEST_CT)


_refused_case("WIRE-S-061", "a discovery answer that is not 200 is refused", [],
              lambda n: Reply(b'{"code":500,"message":"x"}', 500, "application/json"))
_refused_case("WIRE-S-062", "a manifest with another content type is refused", [],
              lambda n: Reply(json.dumps(manifest([service(n, ["run"])])).encode(), 200, "text/plain"))
_refused_case("WIRE-S-063", "a manifest that is not JSON is refused", [],
              lambda n: Reply(b"{services:", 200, MANIFEST_CT))
_refused_case("WIRE-S-064", "a manifest with an unknown field is refused", ["DISC-MAN-1"],
              lambda n: _man(n, surprise=True))
_refused_case("WIRE-S-065", "a manifest whose versions do not overlap the server's is refused",
              ["VER-PROTO-3", "DISC-REG-1"], lambda n: _man(n, minProtocolVersion=7, maxProtocolVersion=9))
_refused_case("WIRE-S-066", "a manifest with min > max protocol version is refused", ["DISC-MAN-3"],
              lambda n: _man(n, minProtocolVersion=2, maxProtocolVersion=1))
_refused_case("WIRE-S-067", "a manifest with a protocolMode other than REQUEST_RESPONSE or BIDI_STREAM is refused",
              ["DISC-MAN-2"], lambda n: _man(n, protocolMode="HTTP2_STREAM"))
_refused_case("WIRE-S-068", "a manifest with duplicate service names is refused", ["DISC-MAN-4"],
              lambda n: Reply(json.dumps(manifest([service(n, ["run"]), service(n, ["other"])])).encode(),
                              200, MANIFEST_CT))


@wire("WIRE-S-069", "an overlapping version range is accepted and the highest common version is used",
      ["VER-PROTO-4", "VER-PROTO-3"])
async def version_overlap(ctx: CaseContext) -> None:
    name = ScriptedSdk.name()
    sdk = ScriptedSdk(ctx, [service(name, ["run"])], {f"{name}/run": done("v")},
                      manifest_doc=manifest([service(name, ["run"])], minProtocolVersion=1, maxProtocolVersion=99))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, name)
        [req] = await sdk.attempts(inv, 1)
        ctx.must_eq(req.headers.get("content-type", "").lower(), CT, "content type (only v1 exists)")
        ctx.must_eq(await result(ctx, inv), (200, "v"), "result")


# ====================================================================== more violations and options

_violation_case("WIRE-S-053", "void other than the literal true is rejected",
                ["WIRE-VAL-3"], nd({"type": "output", "index": 1, "void": False}, END))
_violation_case("WIRE-S-054", "a failure with a code outside 0..65535 or an extra field is rejected",
                ["WIRE-VAL-5", "ERR-GEN-1"],
                nd({"type": "output", "index": 1, "failure": {"code": 70000, "message": "big"}}, END))
_violation_case("WIRE-S-055", "a suspension whose await node has no leaf is rejected",
                ["WIRE-AWAIT-1"], nd(run_cmd(1, 1), {"type": "suspension", "awaiting": {"combinator": "all_completed"}}))


def _deep(depth: int) -> Json:
    node: Json = {"combinator": "all_completed", "completion_ids": [1]}
    for _ in range(depth - 1):
        node = {"combinator": "all_completed", "nested": [node]}
    return node


_violation_case("WIRE-S-056", "an await tree deeper than 17 levels is rejected",
                ["WIRE-AWAIT-2"], nd(run_cmd(1, 1), {"type": "suspension", "awaiting": _deep(18)}))
_violation_case("WIRE-S-057", "an error terminator with a code outside 0..65535 is rejected",
                ["ERR-GEN-1"], nd(error(70000, "too big")))


@wire("WIRE-S-058", "a frame larger than 32 MiB is a protocol violation", ["WIRE-FRAME-4"], timeout_s=30)
async def huge_frame(ctx: CaseContext) -> None:
    big = nd({"type": "output", "index": 1, "value": "x" * (32 * 1024 * 1024 + 16)}, END)
    sdk, svc = await one_service(ctx, lambda req: Reply(big), retryPolicyMaxAttempts=1)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        status, res = await result(ctx, inv, timeout=20)
        same_failure_code(ctx, status, res, 571, "result of a response with a 33 MiB frame")


@wire("WIRE-S-059", "a valid await tree 17 levels deep is accepted", ["WIRE-AWAIT-2", "JRN-RUN-8"])
async def deep_ok(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(run_cmd(1, 1), propose(1, 1),
                                                    {"type": "suspension", "awaiting": _deep(17)}), done("deep")))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "deep"), "result")
        ctx.must_eq(sdk.of(inv)[1].start.get("retry_count"), 0, "retry_count after a valid deep suspension")


@wire("WIRE-S-070", "send_signal appends a signal to the target invocation, which resumes",
      ["JRN-CMD-4"])
async def send_signal(ctx: CaseContext) -> None:
    target: list[str] = []

    def script(req: Req) -> Reply:
        param = req.entries[0]["parameter"].get("value") if req.start["resume_from"] == 0 else None
        if req.n == 0 and param == "wait":
            return ok(suspension(signals=(17,)))
        if req.n == 0 and param == "signal":
            return ok({"type": "send_signal", "index": 1, "target_invocation_id": target[0], "signal_id": 17,
                       "value": "sig!"}, output(2, "sent"), END)
        sigs = [e for e in req.entries if e.get("type") == "signal"]
        return done(sigs[0].get("value") if sigs else None)(req)

    sdk, svc = await one_service(ctx, script)
    async with sdk:
        await sdk.register()
        waiting = await send(ctx, svc, body="wait")
        target.append(waiting)
        await sdk.attempts(waiting, 1)
        sender = await send(ctx, svc, body="signal")
        ctx.must_eq(await result(ctx, sender), (200, "sent"), "sender's result")
        ctx.must_eq(await result(ctx, waiting), (200, "sig!"), "target's result (the signal's value)")


@wire("WIRE-S-071", "get_invocation_output completes at once: 404 for unknown, the value for completed",
      ["JRN-CMD-6", "JRN-FAIL-5"])
async def get_output(ctx: CaseContext) -> None:
    done_id: list[str] = []

    def script(req: Req) -> Reply:
        param = req.entries[0]["parameter"].get("value") if req.start["resume_from"] == 0 else None
        if param == "plain":
            return done("the output")(req)
        if req.n == 0:
            return ok({"type": "get_invocation_output", "index": 1, "completion_id": 1,
                       "target": {"invocation_id": "inv_doesnotexist0000"}},
                      {"type": "get_invocation_output", "index": 2, "completion_id": 2,
                       "target": {"invocation_id": done_id[0]}}, suspension(1))
        comps = {e["completion_id"]: e for e in req.entries if e.get("type") == "completion"}
        if 1 in comps and 2 in comps:
            return done([comps[1].get("failure", {}).get("code"), comps[2].get("value")])(req)
        return ok(suspension(*(c for c in (1, 2) if c not in comps)))

    sdk, svc = await one_service(ctx, script)
    async with sdk:
        await sdk.register()
        first = await send(ctx, svc, body="plain")
        ctx.must_eq(await result(ctx, first), (200, "the output"), "first invocation")
        done_id.append(first)
        inv = await send(ctx, svc, body="ask")
        ctx.must_eq(await result(ctx, inv), (200, [404, "the output"]), "completions of get_invocation_output")


@wire("WIRE-S-072", "attach_invocation completes once the target completes", ["JRN-CMD-5", "JRN-FAIL-5"],
      capabilities=("ingress.awakeables",))
async def attach_cmd(ctx: CaseContext) -> None:
    tgt: list[str] = []

    def script(req: Req) -> Reply:
        param = req.entries[0]["parameter"].get("value") if req.start["resume_from"] == 0 else None
        if req.n == 0 and param == "target":
            return ok(suspension(signals=(17,)))
        if req.n == 0 and param == "attach":
            return ok({"type": "attach_invocation", "index": 1, "completion_id": 1,
                       "target": {"invocation_id": tgt[0]}}, suspension(1))
        comps = [e for e in req.entries if e.get("type") == "completion"]
        if comps:
            return done(["attached", comps[0].get("value")])(req)
        sigs = [e for e in req.entries if e.get("type") == "signal"]
        if sigs:
            return done("target done")(req)
        return ok(suspension(1))

    sdk, svc = await one_service(ctx, script)
    async with sdk:
        await sdk.register()
        target = await send(ctx, svc, body="target")
        tgt.append(target)
        await sdk.attempts(target, 1)
        attacher = await send(ctx, svc, body="attach")
        await sdk.attempts(attacher, 1)
        await sdk.quiet(attacher, 1, 0.3)
        r = await ctx.resolve_awakeable(awakeable_id(target, 17), None)
        ctx.must(r.status_code in (200, 202, 204), f"resolve: {r.status_code}")
        ctx.must_eq(await result(ctx, attacher), (200, ["attached", "target done"]), "attacher's result")


@wire("WIRE-S-073", "a journal mismatch (570) is retried and recorded as last_failure with its command",
      ["JRN-REPLAY-8", "ADM-INV-4", "ERR-CODE-7"], capabilities=("admin.get_invocation",))
async def mismatch_recorded(ctx: CaseContext) -> None:
    mism = {"type": "error", "code": 570, "message": "journal mismatch", "related_command_index": 1,
            "related_command_type": "run", "related_command_name": "step"}
    sdk, svc = await one_service(ctx, by_attempt(ok(run_cmd(1, 1), error(500, "x", next_retry_delay_ms=10)),
                                                 ok(mism)), retryPolicyInitialInterval=60000)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        await sdk.attempts(inv, 2)

        async def probe() -> Json:
            r = await ctx.admin_get(f"/invocations/{inv}")
            return r.json() if r.status_code == 200 else {}

        doc = await ctx.eventually(probe, lambda d: (d.get("last_failure") or {}).get("code") == 570, 5,
                                   "last_failure with code 570")
        lf = doc["last_failure"]
        ctx.must_eq((lf.get("related_command_index"), lf.get("related_command_type")), (1, "run"),
                    "related command of last_failure")
        ctx.must(doc.get("status") != "completed", f"a mismatch must not complete the invocation: {doc}")


@wire("WIRE-S-074", "retryPolicyOnMaxAttempts PAUSE is treated like KILL (terminal failure)", ["DISC-OPT-4"])
async def pause_is_kill(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, lambda req: ok(error(503, "always")), retryPolicyMaxAttempts=1,
                                 retryPolicyOnMaxAttempts="PAUSE")
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        status, res = await result(ctx, inv)
        same_failure_code(ctx, status, res, 503, "result")


@wire("WIRE-S-075", "a suspended exclusive invocation keeps its key's lock", ["JRN-VO-6", "JRN-VO-1", "JRN-STATE-7"],
      capabilities=("ingress.awakeables",))
async def lock_held(ctx: CaseContext) -> None:
    def script(req: Req) -> Reply:
        if req.n == 0 and req.entries and req.entries[0].get("parameter", {}).get("value") == "first":
            return ok(suspension(signals=(17,)))
        return done("ok")(req)

    sdk, svc = await one_service(ctx, script, ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        key = ctx.uid()
        first = await send(ctx, svc, body="first", key=key)
        await sdk.attempts(first, 1)
        second = await send(ctx, svc, body="second", key=key)
        await asyncio.sleep(0.5)
        ctx.must(not sdk.of(second), "the second exclusive invocation ran while the first was suspended")
        r = await ctx.resolve_awakeable(awakeable_id(first, 17), None)
        ctx.must(r.status_code in (200, 202, 204), f"resolve: {r.status_code}")
        ctx.must_eq(await result(ctx, second), (200, "ok"), "second invocation after the first completed")
        ctx.must(sdk.of(second)[0].at > sdk.of(first)[-1].replied_at, "the second started before the first ended")


@wire("WIRE-S-076", "cancel appends one cancel signal (id 1, void) and resumes the suspended invocation",
      ["JRN-CANCEL-1", "JRN-CANCEL-8", "JRN-SUSP-4", "JRN-SIG-1"], capabilities=("admin.cancel",))
async def cancel_signal(ctx: CaseContext) -> None:
    def script(req: Req) -> Reply:
        sigs = [e for e in req.entries if e.get("type") == "signal"]
        if req.n == 0:
            return ok(suspension(signals=(17,)))
        if req.n == 1:  # fail once so that the retry shows the whole journal
            return ok(error(500, "look again"))
        return ok(failure_output(int(req.start["journal_length"]), 409, "cancelled"), END) if sigs else ok(
            suspension(signals=(17,)))

    sdk, svc = await one_service(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        await sdk.attempts(inv, 1)
        for _ in range(2):
            r = await ctx.cancel(inv)
            ctx.must(r.status_code in (200, 202, 204), f"cancel: {r.status_code} {r.text[:200]}")
        status, res = await result(ctx, inv)
        same_failure_code(ctx, status, res, 409, "result of the cancelled invocation")
        full = [r for r in sdk.of(inv) if r.start.get("resume_from") == 0][-1]
        sigs = [e for e in full.entries if e.get("type") == "signal"]
        ctx.must_eq([(s.get("signal_id"), s.get("void")) for s in sigs], [(1, True)], "cancel signals in the journal")


@wire("WIRE-S-077", "kill completes the invocation with 409 killed and sends no further attempt",
      ["JRN-KILL-1", "JRN-KILL-3", "ERR-CODE-3"], capabilities=("admin.kill",))
async def kill_no_attempt(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, lambda req: ok(suspension(signals=(17,))))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        await sdk.attempts(inv, 1)
        r = await ctx.kill(inv)
        ctx.must(r.status_code in (200, 202, 204), f"kill: {r.status_code} {r.text[:200]}")
        status, res = await result(ctx, inv)
        same_failure_code(ctx, status, res, 409, "result of the killed invocation")
        ctx.must_eq(res.get("message"), "killed", "message")
        await sdk.quiet(inv, 1, 0.3)


_refused_case("WIRE-S-078", "a SERVICE handler with a ty is refused", ["DISC-MAN-5"],
              lambda n: Reply(json.dumps(manifest([service(n, [{"name": "run", "ty": "EXCLUSIVE"}])])).encode(),
                              200, MANIFEST_CT))
_refused_case("WIRE-S-079", "a WORKFLOW service with two WORKFLOW handlers is refused", ["DISC-MAN-7"],
              lambda n: Reply(json.dumps(manifest([service(n, [{"name": "run", "ty": "WORKFLOW"},
                                                               {"name": "run2", "ty": "WORKFLOW"}],
                                                           ty="WORKFLOW")])).encode(), 200, MANIFEST_CT))
_refused_case("WIRE-S-080", "workflowCompletionRetention on a plain service's handler is refused", ["DISC-OPT-3"],
              lambda n: Reply(json.dumps(manifest([service(n, [{"name": "run", "workflowCompletionRetention": 5}])])
                                         ).encode(), 200, MANIFEST_CT))


@wire("WIRE-S-081", "changing a registered service's type needs force (409); a forced or new registration "
      "routes new invocations to the new deployment", ["DISC-REG-2", "ADM-DEP-5", "DISC-REG-4", "ADM-SVC-3"])
async def type_change(ctx: CaseContext) -> None:
    name = ScriptedSdk.name()
    one = ScriptedSdk(ctx, [service(name, ["run"])], {f"{name}/run": done("one")})
    two = ScriptedSdk(ctx, [service(name, ["run"], ty="VIRTUAL_OBJECT")], {f"{name}/run": done("two")})
    async with one, two:
        await one.register()
        r = await two.register(expect=None)
        ctx.must_eq(r.status_code, 409, f"registering a type change without force ({r.text[:200]})")
        inv = await send(ctx, name)
        ctx.must_eq(await result(ctx, inv), (200, "one"), "result before the forced registration")
        r = await ctx.admin_post("/deployments", {"uri": two.url, "force": True})
        ctx.must_eq(r.status_code, 201, f"forced registration ({r.text[:200]})")
        inv2 = await send(ctx, name, key=ctx.uid())
        ctx.must_eq(await result(ctx, inv2), (200, "two"), "result after the forced registration")
        svc = (await ctx.admin_get(f"/services/{name}")).json()
        ctx.must_eq(svc.get("revision"), 2, "service revision after a second deployment registered it")
        ctx.must(not two.of(inv) and not one.of(inv2), "an invocation went to the wrong deployment")


_refused_case("WIRE-S-083", "a manifest with an invalid service name is refused", ["VER-ID-5"],
              lambda n: Reply(json.dumps(manifest([service("1" + n, ["run"])])).encode(), 200, MANIFEST_CT))
_refused_case("WIRE-S-084", "a manifest whose input.jsonSchema is not a JSON Schema is refused", ["DISC-MAN-8"],
              lambda n: Reply(json.dumps(manifest([service(n, [{"name": "run", "input": {
                  "jsonSchema": {"type": 5}}}])])).encode(), 200, MANIFEST_CT))


@wire("WIRE-S-082", "re-registering a URI with a different manifest creates a new deployment",
      ["ADM-DEP-4", "DISC-REG-4", "DISC-1"])
async def reregister(ctx: CaseContext) -> None:
    name = ScriptedSdk.name()
    sdk = ScriptedSdk(ctx, [service(name, ["run"])], {"*": done("ok")})
    async with sdk:
        first = (await sdk.register()).json()
        r = await ctx.call(name, "added", None)
        ctx.must(r.status_code == 404, f"a handler the manifest does not list must be unknown, got {r.status_code}")
        sdk.manifest_doc = manifest([service(name, ["run", "added"])])
        r2 = await sdk.register(expect=None)
        ctx.must_eq(r2.status_code, 201, f"re-registration with another manifest ({r2.text[:200]})")
        ctx.must(r2.json().get("id") != first.get("id"), "the new manifest must get a new deployment id")
        ctx.must_eq(await ctx.call_ok(name, "added", None), "ok", "the new handler")


@wire("WIRE-S-085", "service and handler names are compared case-sensitively", ["VER-ID-6"])
async def case_sensitive(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done("x"))
    async with sdk:
        await sdk.register()
        for s_, h in ((svc.lower(), "run"), (svc, "Run")):
            r = await ctx.call(s_, h, None)
            ctx.must(r.status_code == 404, f"{s_}/{h}: expected 404, got {r.status_code}")
        ctx.must(not sdk.invokes, "a differently-cased name reached the deployment")


@wire("WIRE-S-086", "an empty body reaches a handler with optional input as void; output without content type "
      "is JSON", ["DISC-MAN-9", "DISC-MAN-10", "WIRE-VAL-3"])
async def void_input(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, lambda req: ok(output(1, {"got": req.entries[0].get("parameter")}), END))
    async with sdk:
        await sdk.register()
        r = await ctx.http.post(f"{ctx.target.ingress}/restate/call/{svc}/run", content=b"")
        ctx.must_eq(r.status_code, 200, f"call with an empty body ({r.text[:200]})")
        ctx.must_eq(r.json(), {"got": {"void": True}}, "input parameter of an empty body")
        ctx.must_eq(r.headers.get("content-type", "").split(";")[0].strip().lower(), "application/json",
                    "content type of the output")


def _queued_script() -> Callable[[Req], Reply]:
    roles: dict[str, str] = {}

    def script(req: Req) -> Reply:
        if req.n == 0 and req.entries:
            roles[req.invocation_id] = str(req.entries[0].get("parameter", {}).get("value"))
        sigs = [e for e in req.entries if e.get("type") == "signal"]
        if any(s.get("signal_id") == 1 for s in sigs):
            return ok(failure_output(int(req.start["journal_length"]), 409, "cancelled"), END)
        if roles.get(req.invocation_id) == "first":
            return ok(suspension(signals=(17,))) if not sigs else done("first")(req)
        return done("later")(req)

    return script


async def _first_and_queued(ctx: CaseContext) -> tuple[ScriptedSdk, str, str, str]:
    sdk, svc = await one_service(ctx, _queued_script(), ty="VIRTUAL_OBJECT")
    await sdk.__aenter__()
    await sdk.register()
    key = ctx.uid()
    first = await send(ctx, svc, body="first", key=key)
    await sdk.attempts(first, 1)
    queued = await send(ctx, svc, body="second", key=key)
    return sdk, svc, first, queued


@wire("WIRE-S-087", "cancelling a queued invocation completes it with 409 without invoking the SDK",
      ["JRN-CANCEL-7", "ERR-CODE-3"], capabilities=("admin.cancel", "ingress.awakeables"))
async def cancel_queued(ctx: CaseContext) -> None:
    sdk, _, first, queued = await _first_and_queued(ctx)
    try:
        r = await ctx.cancel(queued)
        ctx.must(r.status_code in (200, 202, 204), f"cancel: {r.status_code}")
        status, res = await result(ctx, queued)
        same_failure_code(ctx, status, res, 409, "result of the cancelled queued invocation")
        ctx.must_eq(res.get("message"), "cancelled", "message")
        ctx.must(not sdk.of(queued), "the server invoked a cancelled invocation that had not started")
        await ctx.resolve_awakeable(awakeable_id(first, 17), None)
        ctx.must_eq(await result(ctx, first), (200, "first"), "the first invocation")
    finally:
        await sdk.__aexit__(None, None, None)


@wire("WIRE-S-088", "a cancelled or killed virtual-object invocation releases the key for the next one",
      ["JRN-CANCEL-10", "JRN-KILL-5", "ADM-INV-5"],
      capabilities=("admin.cancel", "admin.kill", "admin.get_invocation"))
async def release_lock(ctx: CaseContext) -> None:
    for action in ("cancel", "kill"):
        sdk, _, first, queued = await _first_and_queued(ctx)
        try:
            r = await (ctx.cancel(first) if action == "cancel" else ctx.kill(first))
            ctx.must(r.status_code in (200, 202, 204), f"{action}: {r.status_code}")
            status, res = await result(ctx, first)
            same_failure_code(ctx, status, res, 409, f"result of the {action}ed invocation")
            ctx.must_eq(await result(ctx, queued), (200, "later"), f"the queued invocation after the {action}")
            doc = (await ctx.admin_get(f"/invocations/{first}")).json()
            ctx.must_eq(doc.get("outcome"), "cancelled" if action == "cancel" else "killed", "admin outcome")
        finally:
            await sdk.__aexit__(None, None, None)


@wire("WIRE-S-089", "killing a caller kills the callee it is waiting for", ["JRN-KILL-2", "JRN-KILL-3"],
      capabilities=("admin.kill",))
async def kill_tree(ctx: CaseContext) -> None:
    callee = ScriptedSdk.name("C")
    name = ScriptedSdk.name()
    sdk = ScriptedSdk(ctx, [service(name, ["run"]), service(callee, ["wait"])], {
        f"{name}/run": by_attempt(ok({"type": "call", "index": 1, "completion_id": 2,
                                      "invocation_id_completion_id": 1, "service": callee, "handler": "wait",
                                      "parameter": {"value": None}}, suspension(2))),
        f"{callee}/wait": lambda req: ok(suspension(signals=(17,)))})
    async with sdk:
        await sdk.register()
        inv = await send(ctx, name)
        creq = await sdk.first(f"{callee}/wait")
        r = await ctx.kill(inv)
        ctx.must(r.status_code in (200, 202, 204), f"kill: {r.status_code}")
        status, res = await result(ctx, creq.invocation_id)
        same_failure_code(ctx, status, res, 409, "result of the callee of a killed caller")
        ctx.must_eq(res.get("message"), "killed", "callee's failure message")
        await sdk.quiet(creq.invocation_id, 1, 0.2)


@wire("WIRE-S-090", "a send to a workflow's run for an existing key resolves to that workflow",
      ["JRN-CALL-6", "JRN-CALL-4"], capabilities=("workflows",))
async def workflow_existing(ctx: CaseContext) -> None:
    wf = ScriptedSdk.name("F")
    name = ScriptedSdk.name()
    key = ctx.uid()

    def caller(req: Req) -> Reply:
        if req.n == 0:
            return ok({"type": "send", "index": 1, "invocation_id_completion_id": 1, "service": wf, "handler": "run",
                       "key": key, "parameter": {"value": None}}, suspension(1))
        comps = [e for e in req.entries if e.get("type") == "completion"]
        return done(comps[0].get("invocation_id") if comps else None)(req)

    sdk = ScriptedSdk(ctx, [service(name, ["run"]), service(wf, ["run"], ty="WORKFLOW")],
                      {f"{name}/run": caller, f"{wf}/run": lambda req: ok(suspension(signals=(17,)))})
    async with sdk:
        await sdk.register()
        wf_inv = await send(ctx, wf, key=key)
        await sdk.attempts(wf_inv, 1)
        inv = await send(ctx, name)
        ctx.must_eq(await result(ctx, inv), (200, wf_inv), "invocation id the send resolved to")
        ctx.must_eq(sum(1 for r in sdk.invokes if r.path.endswith(f"{wf}/run")), 1, "workflow run attempts")


@wire("WIRE-S-091", "a rejected response changes no stored state", ["ADM-STATE-3", "WIRE-RESP-8", "ADM-STATE-1"],
      capabilities=("admin.state",))
async def rejected_state(ctx: CaseContext) -> None:
    bad = nd(set_state(1, "k", "must not be stored")) + b"{oops\n" + nd(output(2, 1), END)
    sdk, svc = await one_service(ctx, lambda req: Reply(bad), ty="VIRTUAL_OBJECT", retryPolicyMaxAttempts=1)
    async with sdk:
        await sdk.register()
        key = ctx.uid()
        inv = await send(ctx, svc, key=key)
        status, res = await result(ctx, inv)
        same_failure_code(ctx, status, res, 571, "result")
        r = await ctx.admin_get(f"/services/{svc}/state/{key}")
        ctx.must_eq((r.status_code, r.json().get("state")), (200, {}), "stored state after a rejected response")


@wire("WIRE-S-092", "the state read of a plain service is 400, of an unknown service 404", ["ADM-STATE-2"],
      capabilities=("admin.state",))
async def state_read_errors(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, done())
    async with sdk:
        await sdk.register()
        r = await ctx.admin_get(f"/services/{svc}/state/k")
        ctx.must_eq(r.status_code, 400, "state read of a plain service")
        r = await ctx.admin_get(f"/services/{ScriptedSdk.name('Nope')}/state/k")
        ctx.must_eq(r.status_code, 404, "state read of an unknown service")


@wire("WIRE-S-093", "the admin journal lists each entry with index, kind, type, name, entry and completion",
      ["ADM-INV-3"], capabilities=("admin.get_invocation",))
async def admin_journal(ctx: CaseContext) -> None:
    sdk, svc = await one_service(ctx, by_attempt(ok(run_cmd(1, 1, "step-a"), propose(1, {"r": 1}), suspension(1)),
                                                 done("fin")))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "fin"), "result")
        doc = (await ctx.admin_get(f"/invocations/{inv}")).json()
        journal = doc.get("journal")
        ctx.must(isinstance(journal, list) and len(journal) == 4, f"journal of 4 entries expected: {journal!r}")
        want = [(0, "command", "input"), (1, "command", "run"), (2, "notification", "completion"),
                (3, "command", "output")]
        ctx.must_eq([(j.get("index"), j.get("kind"), j.get("type")) for j in journal], want, "journal items")
        run = journal[1]
        ctx.must_eq(run.get("name"), "step-a", "name of the run item")
        ctx.must_eq(run.get("entry"), run_cmd(1, 1, "step-a"), "wire entry of the run item")
        ctx.must_eq((run.get("completed"), run.get("result")), (True, {"value": {"r": 1}}), "run completion")


@wire("WIRE-S-094", "a refused registration's error says what was wrong and carries no additional header value",
      ["ERR-GEN-5", "DISC-REQ-5", "ADM-GEN-2"])
async def refusal_message(ctx: CaseContext) -> None:
    secrets = {"authorization": "Bearer s3cr3t-t0k3n-0451", "x-api-key": "k3y-v4lue-9981"}
    name = ScriptedSdk.name()
    sdk = ScriptedSdk(ctx, [service(name, ["run"])],
                      discover_reply=Reply(b'{"code":503,"message":"warming up"}', 503, "application/json"))
    async with sdk:
        closed = sdk.url.replace(f":{sdk.port}", ":9")  # discard port: nothing listens there
        for what, uri in (("a deployment answering 503", sdk.url), ("an unreachable deployment", closed)):
            r = await ctx.admin_post("/deployments", {"uri": uri, "additional_headers": secrets})
            ctx.must(400 <= r.status_code < 600 and r.status_code != 201,
                     f"registering {what}: {r.status_code} {r.text[:200]}")
            ctx.must(all(v not in r.text and v.split()[-1] not in r.text for v in secrets.values()),
                     f"the answer to registering {what} carries an additional header's value: {r.text[:300]}")
            body = r.json() if r.content else {}
            msg = body.get("message") if isinstance(body, dict) else None
            ctx.must(isinstance(msg, str) and len(msg.split()) >= 3,
                     f"the error message for {what} is not a sentence: {msg!r}")
            ctx.must_eq(body.get("code"), r.status_code, f"error code for {what} (ADM-GEN-2)")
        ctx.must(sdk.discovers and sdk.discovers[0].headers.get("x-api-key") == secrets["x-api-key"],
                 "the discovery request did not carry the additional headers")
