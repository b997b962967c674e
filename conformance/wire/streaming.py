"""Server wire cases for the streaming mode (spec/02 section 2.9): WIRE-S-100 and up.

The kit plays a deployment that declares ``BIDI_STREAM`` (:class:`~.stream_sdk.StreamingSdk`, its
own HTTP/1.1 server, so chunk boundaries, the end of the request body and TCP connections are
visible) and checks how the server drives it: a chunked body read while it is open
(WIRE-STREAM-3), continuations only as warm resumes of the turn before (WIRE-STREAM-5), the body
ended after ``end``/``error``/``resume_miss`` and after a suspension nothing woke (WIRE-STREAM-7),
per-turn failures (WIRE-STREAM-13), data after a terminator (WIRE-STREAM-14), durability before
the continuation (WIRE-STREAM-6), and no streaming with a ``REQUEST_RESPONSE`` deployment
(WIRE-STREAM-1).

Cases need ``wire.durable_v1`` and ``wire.streaming`` (a server that never streams declares it in
its profile's ``lacks`` and gets UNIMPLEMENTED; one that declares it and does not stream FAILs).
In always-suspend mode the server never sends ``resume_from > 0``, so no turn may follow a first
one on an exchange: the cases check that instead of the continuation.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from ..context import CaseContext
from ..model import Mode, Strength
from ..registry import case
from .cases import result, same_failure_code, send
from .sdk import (
    CT,
    END,
    RESUME_MISS,
    error,
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
from .stream_sdk import StreamingSdk, StreamReq, TurnReply

Json = Any
CAPS = ("wire.durable_v1", "wire.streaming")
BOTH = (Mode.DEFAULT, Mode.ALWAYS_SUSPEND)
#: how soon after a terminator that ends the stream the request body must end
PROMPT_S = 2.0


def stream_case(id: str, title: str, requirements: list[str], *, capabilities: tuple[str, ...] = (),
                strength: Strength = Strength.MUST, timeout_s: float = 30.0,
                modes: tuple[Mode, ...] = BOTH, streaming: bool = True) -> Callable[[Any], Any]:
    caps = CAPS if streaming else CAPS[:1]
    return case(id, title, requirements=requirements, capabilities=(*caps, *capabilities), modes=modes,
                strength=strength, timeout_s=timeout_s)


def answer(*msgs: Json, **kw: Any) -> TurnReply:
    return TurnReply(nd(*msgs), **kw)


def finish(value: Json = None) -> Callable[[StreamReq], TurnReply]:
    return lambda req: answer(output(int(req.start["journal_length"]), value), END)


def run_step(req: StreamReq, value: Json = 1, **kw: Any) -> TurnReply:
    """A new run at the end of the journal, its proposal, and a suspension on it."""
    n = int(req.start["journal_length"])
    cid = n  # unique: the journal only grows
    return answer(run_cmd(n, cid), propose(cid, value), suspension(cid), **kw)


def streaming_sdk(ctx: CaseContext, script: Callable[[StreamReq], Any], *, ty: str = "SERVICE",
                  handler: str | Json = "run", protocol_mode: str = "BIDI_STREAM", **opts: Json) -> tuple[StreamingSdk, str]:
    name = StreamingSdk.name("S")
    hname = handler if isinstance(handler, str) else handler["name"]
    sdk = StreamingSdk(ctx, [service(name, [handler], ty, **opts)], {f"{name}/{hname}": script},
                       protocol_mode=protocol_mode)
    return sdk, name


def require_stream(ctx: CaseContext, sdk: StreamingSdk, inv: str) -> None:
    """The declared capability: the server streams to a BIDI_STREAM deployment."""
    exs = sdk.exchanges_of(inv)
    ctx.must(exs, f"no invoke request for {inv}")
    first = exs[0]
    ctx.must(first.chunked and first.content_length is None,
             "the server declares wire.streaming but sent a BIDI_STREAM deployment a request with "
             f"transfer-encoding {first.headers.get('transfer-encoding')!r} and content-length "
             f"{first.headers.get('content-length')!r} (WIRE-STREAM-3: a body of unannounced length)")


def turn_chain(ctx: CaseContext, sdk: StreamingSdk, inv: str) -> None:
    """Every turn after the first on an exchange is a warm resume of the turn before (WIRE-STREAM-5)."""
    for ex in sdk.exchanges_of(inv):
        ctx.must(not ex.violations, f"exchange {ex.n}: {'; '.join(ex.violations)}")
        for prev, cur in itertools.pairwise(ex.turns):
            ps, cs = prev.start, cur.start
            what = f"turn {cur.turn} of exchange {ex.n}"
            term = prev.replied_term
            ctx.must(term == "suspension", f"{what} follows a {term} terminator (WIRE-STREAM-5: only after suspension)")
            ctx.must(ctx.mode is not Mode.ALWAYS_SUSPEND,
                     f"{what}: a continuation on the stream in always-suspend mode, where no warm resume may be sent")
            ctx.must_eq(cs.get("invocation_id"), ps.get("invocation_id"), f"{what}: invocation_id")
            ctx.must(cs.get("resume_from", 0) > 0, f"{what} has resume_from 0: a turn after the first must be a warm "
                                                   "resume (WIRE-STREAM-5)")
            ctx.must_eq(cs.get("resume_attempt_id"), ps.get("attempt_id"),
                        f"{what}: resume_attempt_id (the attempt id of the turn before)")
            ctx.must_eq(cs.get("resume_from"), int(ps["journal_length"]) + prev.replied_commands,
                        f"{what}: resume_from (the journal length at the end of the turn before)")
            ctx.must(cs.get("attempt_id") not in {t.start.get("attempt_id") for t in sdk.turns_of(inv) if t is not cur},
                     f"{what}: attempt_id {cs.get('attempt_id')!r} is not new (WIRE-REQ-6)")
            ctx.must("state" not in cs, f"{what}: start.state on a warm resume (WIRE-REQ-9)")


# ====================================================================== the exchange


@stream_case("WIRE-S-100", "with a BIDI_STREAM deployment the server sends a chunked body and reads the response "
             "while the body is open", ["WIRE-STREAM-3", "DISC-MAN-2", "WIRE-HTTP-7", "WIRE-NEG-1", "VER-PROTO-8",
                                        "WIRE-HTTP-1"])
async def chunked_open_body(ctx: CaseContext) -> None:
    def script(req: StreamReq) -> TurnReply:
        if req.n == 0:  # answer late: a server that ends its body before reading would show it now
            return run_step(req, "r", delay_s=0.3)
        return finish("streamed")(req)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register(headers={"x-stream-token": "s3cr3t"})
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "streamed"), "result")
        require_stream(ctx, sdk, inv)
        ex = sdk.exchanges_of(inv)[0]
        ctx.must_eq((ex.method, ex.path), ("POST", f"/dep/invoke/{svc}/run"), "request line")
        for h in ("content-type", "accept"):
            ctx.must_eq(ex.headers.get(h, "").split(";")[0].strip().lower(), CT, f"{h} of the streaming request")
        ctx.must_eq(ex.headers.get("x-stream-token"), "s3cr3t", "additional header on the streaming request")
        t0 = ex.turns[0]
        ctx.must(t0.body_open_at_reply, "the server ended the request body before it read the first turn's response "
                                        "(WIRE-STREAM-3: it reads the response while the body is open)")


@stream_case("WIRE-S-101", "each turn after the first on an exchange is a warm resume of the turn before, written "
             "only after its terminator", ["WIRE-STREAM-5", "WIRE-STREAM-4", "WIRE-REQ-1", "WIRE-REQ-2", "WIRE-REQ-5",
                                           "WIRE-WARM-3", "WIRE-REQ-6"])
async def continuation_ids(ctx: CaseContext) -> None:
    def script(req: StreamReq) -> TurnReply:
        if req.n < 3:  # the terminator comes 0.15 s after the rest of the answer
            r = run_step(req, req.n)
            r.split_at = r.body.rindex(b'{"type":"suspension"')
            return r
        return finish("done")(req)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "done"), "result")
        require_stream(ctx, sdk, inv)
        turn_chain(ctx, sdk, inv)
        reqs = sdk.turns_of(inv)
        ctx.must(len(reqs) == 4, f"attempts: {len(reqs)}")
        exs = sdk.exchanges_of(inv)
        if ctx.mode is Mode.ALWAYS_SUSPEND:
            ctx.must(all(len(e.turns) == 1 for e in exs), "always-suspend: no exchange may carry a second turn")
            return
        ctx.must(len(exs) == 1 and len(exs[0].turns) == 4,
                 f"the server declares wire.streaming but wrote the warm resumes of run proposals on "
                 f"{len(exs)} exchanges ({[len(e.turns) for e in exs]} turns) instead of onto the open one")
        for prev, cur in itertools.pairwise(reqs):
            ctx.must(cur.at - prev.replied_at >= 0.14,
                     f"turn {cur.turn} arrived {cur.at - prev.replied_at:.3f}s after the answer began, before its "
                     "terminator was written (WIRE-STREAM-4)")
            ctx.must_eq([e.get("type") for e in cur.entries], ["completion"], f"entries of turn {cur.turn}")


@stream_case("WIRE-S-102", "after end, error and resume_miss the server ends the request body; the next attempt is a "
             "new exchange", ["WIRE-STREAM-7", "WIRE-WARM-7", "WIRE-STREAM-5"])
async def body_ends_after_terminators(ctx: CaseContext) -> None:
    seen: dict[str, bool] = {}

    def script(req: StreamReq) -> TurnReply:
        if req.n == 0:
            return run_step(req, 1)
        if req.start["resume_from"] > 0:
            return answer(RESUME_MISS)
        if not seen.get("error"):
            seen["error"] = True
            return answer(error(500, "once"))
        return finish("ok")(req)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "ok"), "result")
        require_stream(ctx, sdk, inv)
        turn_chain(ctx, sdk, inv)
        await sdk.wait(lambda: all(e.body_ended_at for e in sdk.exchanges_of(inv)), "the end of every request body",
                       timeout=5)
        for ex in sdk.exchanges_of(inv):
            last = ex.turns[-1]
            if last.replied_term == "suspension":
                continue
            assert ex.body_ended_at is not None
            took = ex.body_ended_at - last.replied_at
            ctx.must(took <= PROMPT_S, f"the request body of exchange {ex.n} ended {took:.2f}s after a "
                                       f"{last.replied_term} terminator (WIRE-STREAM-7: at once)")
        kinds = [t.replied_term for t in sdk.turns_of(inv)]
        want = ["suspension", "resume_miss", "error", "end"] if ctx.mode is Mode.DEFAULT else ["suspension", "error",
                                                                                               "end"]
        ctx.must_eq(kinds, want, "terminators of the attempts")
        ctx.must_eq(len(sdk.exchanges_of(inv)), len(kinds) - (1 if ctx.mode is Mode.DEFAULT else 0),
                    "exchanges (the warm resume on the stream, then a new exchange after each other terminator)")


@stream_case("WIRE-S-103", "a suspension nothing has woken ends the request body at once; the wake-up is a new exchange",
             ["WIRE-STREAM-7", "JRN-SUSP-7"])
async def unwoken_suspension(ctx: CaseContext) -> None:
    wake: list[int] = []

    def script(req: StreamReq) -> TurnReply:
        if req.n == 0:
            wake.append(now_ms() + 4000)
            return answer(sleep_cmd(1, 1, wake[0]), suspension(1))
        return finish("woke")(req)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        await sdk.turn_attempts(inv, 1)
        require_stream(ctx, sdk, inv)
        first = sdk.exchanges_of(inv)[0]
        await sdk.wait(lambda: first.body_ended_at is not None, "the end of the first request body", timeout=3.5)
        assert first.body_ended_at is not None
        took = first.body_ended_at - first.turns[0].replied_at
        ctx.must(took <= PROMPT_S, f"the request body ended {took:.2f}s after a suspension on a 4 s timer "
                                   "(WIRE-STREAM-7: the stream does not wait for timers)")
        ctx.must_eq(await result(ctx, inv, timeout=15), (200, "woke"), "result")
        exs = sdk.exchanges_of(inv)
        ctx.must_eq([len(e.turns) for e in exs], [1, 1], "turns per exchange (the wake-up is a new exchange)")
        ctx.must(time.time() * 1000 >= wake[0] - 5, "woke before the timer")


# ====================================================================== per-turn failures


def _fail_second(failing: Callable[[StreamReq], TurnReply], ty: str = "SERVICE") -> Callable[[CaseContext], Any]:
    async def body(ctx: CaseContext) -> None:
        def script(req: StreamReq) -> TurnReply:
            if req.n == 0:
                return run_step(req, "kept") if ty == "SERVICE" else answer(
                    set_state(1, "a", "kept"), run_cmd(2, 1), propose(1, "kept"), suspension(1))
            if req.n == 1:
                return failing(req)
            return finish("recovered")(req)

        sdk, svc = streaming_sdk(ctx, script, ty=ty)
        async with sdk:
            await sdk.register()
            key = ctx.uid() if ty != "SERVICE" else None
            inv = await send(ctx, svc, key=key)
            reqs = await sdk.turn_attempts(inv, 3)
            require_stream(ctx, sdk, inv)
            first_len = 3 if ty == "SERVICE" else 4
            st = reqs[2].start
            ctx.must_eq((st.get("resume_from"), st.get("journal_length"), st.get("retry_count")), (0, first_len, 1),
                        "(resume_from, journal_length, retry_count) of the retry: the first turn stays appended, "
                        "nothing of the failed turn is")
            ctx.must_eq([e.get("type") for e in reqs[2].entries][-1], "completion",
                        "last entry of the retry (the first turn's run completion)")
            if ty != "SERVICE":
                ctx.must_eq(st.get("state"), {"a": {"value": "kept"}}, "state after the failed turn")
            ctx.must(reqs[2].exchange is not reqs[1].exchange, "the retry came on the failed exchange (WIRE-STREAM-13)")
            ex1 = reqs[1].exchange
            assert ex1 is not None
            ctx.must(ex1.turns[-1] is reqs[1], "the server wrote another turn on the exchange after the failed turn")
            ctx.must_eq(await result(ctx, inv), (200, "recovered"), "result")

    return body


@stream_case("WIRE-S-104", "a connection reset during a continuation turn fails that turn only; earlier turns stay",
             ["WIRE-STREAM-13", "WIRE-HTTP-9", "ERR-RETRY-1"])
async def reset_mid_turn(ctx: CaseContext) -> None:
    def failing(req: StreamReq) -> TurnReply:
        n = int(req.start["journal_length"])
        return answer(run_cmd(n, 50, "lost"), after="reset")

    await _fail_second(failing)(ctx)


@stream_case("WIRE-S-105", "a response that ends before the turn's terminator fails that turn only",
             ["WIRE-STREAM-13", "WIRE-RESP-8", "WIRE-FRAME-3"])
async def ended_mid_turn(ctx: CaseContext) -> None:
    def failing(req: StreamReq) -> TurnReply:
        n = int(req.start["journal_length"])
        return answer(set_state(n, "a", "lost"), run_cmd(n + 1, 50, "lost"), after="end")

    await _fail_second(failing, ty="VIRTUAL_OBJECT")(ctx)


@stream_case("WIRE-S-106", "a continuation turn that breaks the protocol is rejected as a whole; earlier turns stay",
             ["WIRE-STREAM-13", "WIRE-RESP-8", "WIRE-HTTP-9"])
async def bad_turn_mid_stream(ctx: CaseContext) -> None:
    def failing(req: StreamReq) -> TurnReply:
        n = int(req.start["journal_length"])
        return TurnReply(nd(set_state(n, "a", "lost")) + b"{not json\n" + nd(suspension(1)))

    await _fail_second(failing, ty="VIRTUAL_OBJECT")(ctx)


@stream_case("WIRE-S-107", "the abort timeout runs per turn: turns within it on a long stream are not aborted, a slow "
             "turn is", ["WIRE-HTTP-8", "WIRE-STREAM-13"], timeout_s=90)
async def abort_per_turn(ctx: CaseContext) -> None:
    slow: dict[str, bool] = {}

    def script(req: StreamReq) -> TurnReply:
        value = req.entries[0]["parameter"].get("value") if req.start["resume_from"] == 0 and req.entries else None
        if value == "slow":
            slow[req.invocation_id] = True
        if slow.get(req.invocation_id):
            if req.n == 0:
                return run_step(req, 1)
            if req.n == 1:
                return run_step(req, 2, delay_s=15.0)
            return finish("after abort")(req)
        if req.n < 4:
            return run_step(req, req.n, delay_s=1.5)
        return finish("in time")(req)

    # generous margins: the kit's own event loop may be busy with other cases
    sdk, svc = streaming_sdk(ctx, script, handler={"name": "run", "abortTimeout": 5000})
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc, body="steady")
        ctx.must_eq(await result(ctx, inv, timeout=40), (200, "in time"), "result of four turns of 1.5 s each, then a fifth")
        require_stream(ctx, sdk, inv)
        counts = [r.start.get("retry_count") for r in sdk.turns_of(inv)]
        ctx.must_eq(counts, [0, 0, 0, 0, 0], "retry_count of the turns (none may be aborted: each took 1.5 s of the "
                                          "5 s abort timeout, though the stream lasted longer)")
        inv2 = await send(ctx, svc, body="slow")
        reqs = await sdk.turn_attempts(inv2, 3, timeout=25)
        gap = reqs[2].at - reqs[1].at
        ctx.must(gap < 12.0, f"the retry of a turn that hung 15 s came {gap:.1f}s after it began (abort timeout 5 s)")
        st = reqs[2].start
        ctx.must_eq((st.get("journal_length"), st.get("retry_count")), (3, 1),
                    "(journal_length, retry_count) after the aborted turn: the first turn stays appended")


# ====================================================================== data after a terminator


@stream_case("WIRE-S-108", "data after a turn's terminator in the same write rejects the turn",
             ["WIRE-STREAM-14", "WIRE-RESP-1", "WIRE-RESP-8"])
async def data_after_terminator(ctx: CaseContext) -> None:
    def script(req: StreamReq) -> TurnReply:
        if req.n == 0:
            return answer(run_cmd(1, 1), propose(1, "x"), suspension(1), output(2, "trailing"))
        return finish("retried")(req)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.turn_attempts(inv, 2)
        require_stream(ctx, sdk, inv)
        st = reqs[1].start
        ctx.must_eq((st.get("resume_from"), st.get("journal_length"), st.get("retry_count")), (0, 1, 1),
                    "(resume_from, journal_length, retry_count) after a turn with data after its terminator")
        ctx.must_eq(await result(ctx, inv), (200, "retried"), "result")


@stream_case("WIRE-S-109", "data after an appended suspension: no further turn on that exchange, its connection is "
             "not reused", ["WIRE-STREAM-14"])
async def data_after_appended_suspension(ctx: CaseContext) -> None:
    wake: list[int] = []

    def script(req: StreamReq) -> TurnReply:
        if req.n == 0:
            wake.append(now_ms() + 1200)
            return answer(sleep_cmd(1, 1, wake[0]), suspension(1), extra=nd(END), extra_delay_s=0.3)
        return finish("woke")(req)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        reqs = await sdk.turn_attempts(inv, 2, timeout=8)
        require_stream(ctx, sdk, inv)
        ctx.must_eq(reqs[1].start.get("journal_length"), 3, "journal_length of the wake-up (the suspended turn's "
                                                            "sleep stays appended, then its completion)")
        ex0, ex1 = reqs[0].exchange, reqs[1].exchange
        assert ex0 is not None and ex1 is not None
        ctx.must(ex0 is not ex1 and len(ex0.turns) == 1, "a further turn was written on the exchange")
        ctx.must(ex1.conn != ex0.conn, "the server reused the connection on which data arrived after a terminator "
                                       f"(connection {ex0.conn}) for the next exchange (WIRE-STREAM-14)")
        ctx.must_eq(await result(ctx, inv), (200, "woke"), "result")


# ====================================================================== durability, modes


@stream_case("WIRE-S-110", "when a continuation turn arrives, the turn before is durable and visible in the admin API",
             ["WIRE-STREAM-6", "WIRE-RESP-9", "ADM-INV-3", "ADM-STATE-3"], capabilities=("admin.get_invocation", "admin.state"),
             modes=(Mode.DEFAULT,))
async def durable_before_continuation(ctx: CaseContext) -> None:
    seen: dict[str, Json] = {}

    async def script(req: StreamReq) -> TurnReply:
        if req.n == 0:
            return answer(set_state(1, "a", "v1"), run_cmd(2, 1), propose(1, {"r": 1}), suspension(1))
        if req.n == 1:
            doc = await ctx.admin_get(f"/invocations/{req.invocation_id}")
            seen["journal"] = doc.json().get("journal") if doc.status_code == 200 else doc.text
            st = await ctx.admin_get(f"/services/{req.start['service']}/state/{req.start.get('key')}")
            seen["state"] = st.json().get("state") if st.status_code == 200 else st.text
        return finish("done")(req)

    sdk, svc = streaming_sdk(ctx, script, ty="VIRTUAL_OBJECT")
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc, key=ctx.uid())
        ctx.must_eq(await result(ctx, inv), (200, "done"), "result")
        require_stream(ctx, sdk, inv)
        turn_chain(ctx, sdk, inv)
        reqs = sdk.turns_of(inv)
        ctx.must_eq([r.start.get("retry_count") for r in reqs], [0, 0],
                    "retry_count (a turn written before its journal was readable fails)")
        journal = seen.get("journal")
        ctx.must(isinstance(journal, list), f"admin journal while the continuation was in flight: {journal!r}")
        assert isinstance(journal, list)
        got = [(j.get("index"), j.get("type")) for j in journal]
        ctx.must(got[:4] == [(0, "input"), (1, "set_state"), (2, "run"), (3, "completion")],
                 f"admin journal when the continuation arrived: {got} (WIRE-STREAM-6: the previous turn and its run "
                 "completion are appended durably before the next turn is written)")
        ctx.must_eq(seen.get("state"), {"a": {"value": "v1"}}, "stored state when the continuation arrived "
                    "(ADM-STATE-3: the state read shows only durably stored state)")


@stream_case("WIRE-S-111", "a REQUEST_RESPONSE deployment gets complete bodies with a content-length, one turn each",
             ["WIRE-STREAM-1", "DISC-MAN-2", "WIRE-HTTP-3"], streaming=False)
async def no_stream_for_request_response(ctx: CaseContext) -> None:
    def script(req: StreamReq) -> TurnReply:
        return run_step(req, 1) if req.n == 0 else finish("rr")(req)

    sdk, svc = streaming_sdk(ctx, script, protocol_mode="REQUEST_RESPONSE")
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "rr"), "result")
        for ex in sdk.exchanges_of(inv):
            ctx.must(not ex.chunked, f"exchange {ex.n} to a REQUEST_RESPONSE deployment is chunked (WIRE-STREAM-1)")
            ctx.must_eq(ex.content_length, len(ex.turns[0].body), f"content-length of exchange {ex.n}")
            ctx.must_eq(len(ex.turns), 1, f"turns on exchange {ex.n}")
            ctx.must(not ex.turns[0].body_open_at_reply, f"exchange {ex.n}: the body was not complete")
        ctx.must_eq(len(sdk.exchanges_of(inv)), 2, "exchanges")


@stream_case("WIRE-S-112", "the server writes each turn's request part as one chunk", ["WIRE-STREAM-15"],
             strength=Strength.SHOULD)
async def one_chunk_per_turn(ctx: CaseContext) -> None:
    sdk, svc = streaming_sdk(ctx, lambda req: run_step(req, req.n) if req.n < 2 else finish("x")(req))
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        ctx.must_eq(await result(ctx, inv), (200, "x"), "result")
        require_stream(ctx, sdk, inv)
        chunks = [r.chunks for r in sdk.turns_of(inv)]
        ctx.should(all(c == 1 for c in chunks), f"request chunks per turn: {chunks} (WIRE-STREAM-15)")


@stream_case("WIRE-S-113", "a terminal failure on a stream completes the invocation; the body ends",
             ["WIRE-STREAM-7", "JRN-FAIL-2"])
async def failure_on_stream(ctx: CaseContext) -> None:
    def script(req: StreamReq) -> TurnReply:
        if req.n == 0:
            return run_step(req, 1)
        return answer({"type": "output", "index": int(req.start["journal_length"]),
                       "failure": {"code": 418, "message": "teapot"}}, END)

    sdk, svc = streaming_sdk(ctx, script)
    async with sdk:
        await sdk.register()
        inv = await send(ctx, svc)
        status, body = await result(ctx, inv)
        same_failure_code(ctx, status, body, 418, "result")
        require_stream(ctx, sdk, inv)
        turn_chain(ctx, sdk, inv)
        last = sdk.turns_of(inv)[-1]
        assert last.exchange is not None
        ex = last.exchange
        await sdk.wait(lambda: ex.body_ended_at is not None, "the end of the request body", timeout=3)
        assert ex.body_ended_at is not None
        ctx.must(ex.body_ended_at - last.replied_at <= PROMPT_S, "the body did not end at once after end")
