"""SDK-half streaming cases (spec/02 section 2.9): the kit plays a streaming server.

Each case opens full-duplex HTTP/1.1 exchanges (:class:`~conformance.sdk.stream.DuplexStream`,
chunked request body written turn by turn while the response is read) against an endpoint whose
manifest declares ``protocolMode: BIDI_STREAM``. Against a deployment that declares
``REQUEST_RESPONSE`` every case here is SKIPPED (mode-gated), never PASS.

The journals are the ``Interpreter`` programs of spec/08: a ``run`` step answers
``run, propose_run_completion, suspension``, and the kit continues it with a warm resume
(``resume_attempt_id`` = the suspended attempt, ``resume_from`` = the SDK's journal length,
entries = the stored completion), exactly as a server would.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from durable.protocol.messages import TURN_FOLLOWS_HEADER, invocation_content_type

from ..model import Strength
from .cases import prog, sdk_case
from .driver import SdkContext, inp, result_of
from .stream import DuplexStream, Session, Turn

TURN_S = 10.0  # how long a turn's response may take (the handlers answer in milliseconds; loaded CI is slow)
#: how long the SDK may take to end its response when it must: WIRE-STREAM-9 lets it wait 1 s for the end of
#: the request body; the rest is slack for a loaded machine (keep it below the bound the kit starts its own
#: services with, 10 s, so that an SDK that only ends at its idle bound still fails)
END_S = 5.0


def interpreter(*cmds: dict[str, Any]) -> Session:
    s = Session("Interpreter", "run", "k")
    s.journal.append(inp(prog(*cmds)))
    return s


async def turn(t: SdkContext, st: DuplexStream, s: Session, *, resume: bool, **start: Any) -> Turn:
    """Write the session's next turn (full journal or warm resume), read and absorb its response."""
    msg, entries = s.start(resume=resume, **start)
    at = await st.write_turn(msg, entries)
    tr = await st.read_turn(TURN_S, at)
    want = msg["journal_length"]
    for c in tr.commands:
        t.must_eq(c.get("index"), want, f"index of new command {c['type']} in a turn with journal_length "
                                        f"{msg['journal_length']} (WIRE-RESP-2)")
        want += 1
    s.absorb(tr)
    return tr


def suspended_on_run(t: SdkContext, tr: Turn, what: str) -> None:
    t.must_eq(tr.types, ["run", "propose_run_completion", "suspension"], f"frames of {what}")


@sdk_case("SDK-100", "a deployment declaring BIDI_STREAM answers a turn while the request body is still open",
          requirements=["WIRE-STREAM-8", "DISC-MAN-2", "WIRE-STREAM-10"])
async def turn_before_body_end(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run") as st:
        tr = await turn(t, st, s, resume=False)
        suspended_on_run(t, tr, "the first turn (request body still open)")
        t.must(not st.response_ended, "the SDK ended the response after a suspension while the request body was "
                                      "open (WIRE-STREAM-10: it keeps the response open and reads on)")
        await st.end_body()
        t.must(await st.read_end(END_S), f"the response did not end within {END_S}s of the end of the request body")


@sdk_case("SDK-101", "warm resumes on the same exchange continue the held session (its state included) to the end",
          requirements=["WIRE-STREAM-10", "WIRE-WARM-4", "WIRE-WARM-9", "WIRE-STREAM-4", "WIRE-REQ-1", "VER-PROTO-8"])
async def continuation(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "set", "key": "a", "value": 1}, {"op": "run", "value": 5}, {"op": "run", "value": 6},
                    {"op": "get", "key": "a"})
    async with t.stream("Interpreter", "run") as st:
        first = await turn(t, st, s, resume=False)
        t.must_eq(first.types, ["set_state", "run", "propose_run_completion", "suspension"], "frames of turn 1")
        second = await turn(t, st, s, resume=True)
        t.must(second.types != ["resume_miss"], "the SDK answered resume_miss to a warm resume of the session it "
                                               "suspended on this exchange (WIRE-WARM-4)")
        suspended_on_run(t, second, "turn 2 (a warm resume: only the completion of the first run was sent)")
        third = await turn(t, st, s, resume=True)
        t.must_eq(third.types, ["get_state", "output", "end"], "frames of turn 3")
        t.must_eq(result_of(third.frames[0]), {"value": 1}, "get_state recorded from the session's own write")
        t.must_eq(result_of(third.frames[1]), {"value": [None, 5, 6, 1]},
                  "output (the state written in turn 1 is read in turn 3 without start.state, WIRE-WARM-9)")
        t.must(await st.read_end(END_S), "the response did not end after the end terminator (WIRE-STREAM-9)")


@sdk_case("SDK-102", "a mismatched warm resume on the stream is answered with resume_miss only, then the response ends",
          requirements=["WIRE-STREAM-10", "WIRE-WARM-5", "WIRE-RESP-7", "WIRE-STREAM-9"])
async def stream_resume_miss(t: SdkContext) -> None:
    await t.require_streaming()
    for what, kw in (("another attempt id", {"resume_attempt_id": "not-the-suspended-one"}),
                     ("a shorter resume_from", {"resume_from": 1})):
        s = interpreter({"op": "run", "value": 5})
        async with t.stream("Interpreter", "run") as st:
            suspended_on_run(t, await turn(t, st, s, resume=False), "turn 1")
            held = s.attempt_id
            msg, entries = s.start(resume=True, **kw)
            at = await st.write_turn(msg, entries)
            tr = await st.read_turn(TURN_S, at)
            t.must_eq(tr.types, ["resume_miss"], f"answer to a warm resume naming {what}")
            t.must(await st.read_end(END_S), f"the response did not end after resume_miss ({what}, WIRE-STREAM-9)")
        # WIRE-WARM-5: the session is dropped, so even the right ids miss now (on a new exchange)
        s.attempt_id = held
        async with t.stream("Interpreter", "run") as st2:
            msg, entries = s.start(resume=True)
            tr = await st2.read_turn(TURN_S, await st2.write_turn(msg, entries))
            t.must_eq(tr.types, ["resume_miss"], f"a warm resume of the session after the miss ({what}): the SDK must "
                                                 "have dropped it (WIRE-WARM-5)")


async def _violation_after_suspension(t: SdkContext, write: Any, what: str) -> None:
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run") as st:
        suspended_on_run(t, await turn(t, st, s, resume=False), "turn 1")
        at = await write(st, s)
        tr = await st.read_turn(TURN_S, at)
        t.must_eq((tr.terminator.get("type"), tr.terminator.get("code")), ("error", 571), f"answer to {what}")
        t.must_eq(tr.types, ["error"], f"frames answering {what}")
        t.must(await st.read_end(END_S), f"the response did not end after the 571 error answering {what} "
                                         "(WIRE-STREAM-10)")


@sdk_case("SDK-103", "a start with resume_from 0 after a suspension on the stream is error 571, then the response ends",
          requirements=["WIRE-STREAM-10", "WIRE-REQ-12", "ERR-CODE-6"])
async def restart_midstream(t: SdkContext) -> None:
    await t.require_streaming()

    async def write(st: DuplexStream, s: Session) -> float:
        return await st.write_turn(*s.start(resume=False))

    await _violation_after_suspension(t, write, "a full-journal start (resume_from 0) on the stream")


@sdk_case("SDK-104", "a frame other than start where a turn must begin is error 571, then the response ends",
          requirements=["WIRE-STREAM-10", "WIRE-REQ-1", "WIRE-REQ-12"])
async def non_start_midstream(t: SdkContext) -> None:
    await t.require_streaming()

    async def write(st: DuplexStream, s: Session) -> float:
        completion = {"type": "completion", "index": 2, "completion_id": 1, "value": 5}
        await st.write_raw(orjson.dumps(completion) + b"\n")
        return time.monotonic()

    await _violation_after_suspension(t, write, "a completion frame where a start must begin the turn")


@sdk_case("SDK-105", "a warm-resume start for another invocation on the stream is error 571, then the response ends",
          requirements=["WIRE-STREAM-10"])
async def other_invocation_midstream(t: SdkContext) -> None:
    await t.require_streaming()

    async def write(st: DuplexStream, s: Session) -> float:
        return await st.write_turn(*s.start(resume=True, invocation_id=f"inv_other{s.invocation_id[4:]}"))

    await _violation_after_suspension(t, write, "a start naming another invocation")


@sdk_case("SDK-106", "after an end or error terminator the SDK ends the response without waiting for the request body",
          requirements=["WIRE-STREAM-9", "WIRE-RESP-1", "WIRE-RESP-11"])
async def ends_after_terminator(t: SdkContext) -> None:
    await t.require_streaming()
    echo = Session("TestUtilsService", "echo", None)
    echo.journal.append(inp("hello"))
    async with t.stream("TestUtilsService", "echo") as st:
        tr = await turn(t, st, echo, resume=False)
        t.must_eq(tr.types, ["output", "end"], "frames of the echo turn")
        t.must(await st.read_end(END_S), f"the response did not end within {END_S}s of the end terminator while the "
                                         "request body stayed open (WIRE-STREAM-9)")
    failing = Session("Failing", "failingCallWithEventualSuccess", t.uid())
    failing.journal.append(inp())
    async with t.stream("Failing", "failingCallWithEventualSuccess") as st:
        msg, entries = failing.start(resume=False)
        tr = await st.read_turn(TURN_S, await st.write_turn(msg, entries))
        t.must_eq(tr.terminator.get("type"), "error", "terminator of a failing attempt")
        t.must(await st.read_end(END_S), f"the response did not end within {END_S}s of the error terminator while the "
                                         "request body stayed open (WIRE-STREAM-9)")


@sdk_case("SDK-107", "the end of the request body after a suspension ends the response, with nothing more written",
          requirements=["WIRE-STREAM-10", "WIRE-STREAM-9"])
async def eof_after_suspension(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5}, {"op": "run", "value": 6})
    async with t.stream("Interpreter", "run") as st:
        suspended_on_run(t, await turn(t, st, s, resume=False), "turn 1")
        suspended_on_run(t, await turn(t, st, s, resume=True), "turn 2")
        await st.end_body()
        t.must(await st.read_end(END_S), f"the response did not end within {END_S}s of the end of the request body "
                                         "after a suspension (WIRE-STREAM-10)")


@sdk_case("SDK-108", "between a suspension and the next start the SDK writes nothing and keeps the response open",
          requirements=["WIRE-STREAM-9", "WIRE-STREAM-10"])
async def quiet_between_turns(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run") as st:
        suspended_on_run(t, await turn(t, st, s, resume=False), "turn 1")
        # a short look, well within the endpoint's bound (WIRE-STREAM-11) when the kit knows it
        extra = await st.quiet(0.8 if t.stream_idle_s is None else min(0.8, t.stream_idle_s / 4))
        t.must(not extra, f"the SDK wrote {extra[:200]!r} after the suspension terminator, before the next start "
                          "(WIRE-STREAM-9)")
        t.must(not st.response_ended and not st.connection_closed,
               "the SDK ended the response after a suspension although the request body is open (WIRE-STREAM-10)")
        tr = await turn(t, st, s, resume=True)
        t.must_eq(tr.types, ["output", "end"], "frames of the warm resume after the pause")


@sdk_case("SDK-109", "the SDK bounds its wait for the next turn after a suspension and then ends the response",
          requirements=["WIRE-STREAM-11"], timeout_s=60)
async def bounded_wait(t: SdkContext) -> None:
    await t.require_streaming()
    bound = t.stream_idle_s
    if bound is None:
        raise t.skip("the endpoint's bound on the wait after a suspension is not known to the kit; start it with a "
                     "short bound and pass it (durable conformance sdk --stream-idle-bound SECONDS)")
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run") as st:
        suspended_on_run(t, await turn(t, st, s, resume=False), "turn 1")
        waited = time.monotonic()
        slack = max(3.0, bound / 2)
        ended = await st.read_end(bound + slack)
        t.must(ended, f"the response was still open {bound + slack:.1f}s after the suspension although the endpoint's "
                      f"bound is {bound:g}s and the kit wrote nothing (WIRE-STREAM-11)")
        took = time.monotonic() - waited
        t.must(took >= min(bound, 0.5) - 0.2, f"the response ended {took:.2f}s after the suspension, before any wait "
                                               "(WIRE-STREAM-10: it keeps the response open and reads on)")


@sdk_case("SDK-110", "a suspended session is available for a warm resume on a new exchange while the old stream is open",
          requirements=["WIRE-STREAM-12"], strength=Strength.SHOULD)
async def session_available_at_once(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run") as st:
        suspended_on_run(t, await turn(t, st, s, resume=False), "turn 1")
        journal = [{**e, "index": i} for i, e in enumerate(s.journal)]
        ans = await t.invoke("Interpreter", "run", s.journal, key="k", invocation_id=s.invocation_id,
                             resume_from=s.sdk_length, resume_attempt_id=s.attempt_id)
        t.must_eq(ans.status, 200, "status of the warm resume on a new exchange")
        types = [f.get("type") for f in ans.frames]
        t.must(types != ["resume_miss"], "a warm resume on a new exchange, sent right after the suspension while the "
                                         f"first stream is still open, missed the session (journal {journal})")
        t.must_eq(types, ["output", "end"], "frames of the warm resume on the new exchange")
        await st.end_body()
        t.must(await st.read_end(END_S), "the first stream did not end after its request body ended")


@sdk_case("SDK-111", "a BIDI_STREAM deployment still serves request/response exchanges (also a warm resume on one)",
          requirements=["WIRE-STREAM-2", "WIRE-HTTP-2"])
async def request_response_still_served(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5}, {"op": "run", "value": 6})
    ans = await t.invoke("Interpreter", "run", s.journal, key="k", invocation_id=s.invocation_id, attempt_id="rr1")
    t.must_eq([f.get("type") for f in ans.frames], ["run", "propose_run_completion", "suspension"],
              "frames of a request/response (content-length) exchange")
    s.absorb(Turn(ans.frames, 1, 0.0))
    cont = await t.invoke("Interpreter", "run", s.journal, key="k", invocation_id=s.invocation_id, attempt_id="rr2",
                          resume_from=s.sdk_length, resume_attempt_id="rr1")
    t.must_eq([f.get("type") for f in cont.frames], ["run", "propose_run_completion", "suspension"],
              "frames of a warm resume on a request/response exchange")
    # to the SDK a request/response exchange is a stream whose body ends after its first turn
    s2 = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run") as st:
        msg, entries = s2.start(resume=False)
        at = await st.write_turn(msg, entries)
        await st.end_body()
        tr = await st.read_turn(TURN_S, at)
        suspended_on_run(t, tr, "a chunked exchange whose body ends after its first turn")
        t.must(await st.read_end(END_S), "the response did not end after the request body ended (WIRE-STREAM-2)")


@sdk_case("SDK-112", "a deployment that buffers the request body does not declare BIDI_STREAM",
          requirements=["DISC-MAN-12"], strength=Strength.SHOULD)
async def declared_mode_matches(t: SdkContext) -> None:
    await t.require_streaming()
    echo = Session("TestUtilsService", "echo", None)
    echo.journal.append(inp("probe"))
    async with t.stream("TestUtilsService", "echo") as st:
        msg, entries = echo.start(resume=False)
        at = await st.write_turn(msg, entries)
        deadline = time.monotonic() + TURN_S
        while not st.status and not st.connection_closed and time.monotonic() < deadline:
            await st.quiet(0.1)
        t.must(st.status, f"no response within {TURN_S:g}s while the request body was open: the deployment declares "
                          "BIDI_STREAM but behaves like one behind a buffering platform, which should declare "
                          "REQUEST_RESPONSE (DISC-MAN-12)")
        tr = await st.read_turn(TURN_S, at)
        t.must_eq(tr.types, ["output", "end"], "frames of the echo turn")


@sdk_case("SDK-113", "the SDK writes each turn's response as one chunk", requirements=["WIRE-STREAM-15"],
          strength=Strength.SHOULD)
async def one_chunk_per_turn(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5}, {"op": "set", "key": "b", "value": 2}, {"op": "run", "value": 6})
    chunks: list[int] = []
    async with t.stream("Interpreter", "run") as st:
        chunks.append((await turn(t, st, s, resume=False)).chunks)
        chunks.append((await turn(t, st, s, resume=True)).chunks)
        chunks.append((await turn(t, st, s, resume=True)).chunks)
        await st.end_body()
    t.should(all(c == 1 for c in chunks), f"response chunks per turn: {chunks} (WIRE-STREAM-15: one write per turn)")


@sdk_case("SDK-115", "the SDK answers a request head marked turn-follows with its response head before the turn",
          requirements=["WIRE-STREAM-17", "WIRE-STREAM-16"], strength=Strength.SHOULD)
async def head_before_the_turn(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run", extra_headers={TURN_FOLLOWS_HEADER: "1"}) as st:
        deadline = time.monotonic() + TURN_S
        while not st.status and not st.connection_closed and time.monotonic() < deadline:
            await st.quiet(0.1)
        early = st.status
        tr = await turn(t, st, s, resume=False)  # the turn itself is answered as always
        suspended_on_run(t, tr, "the first turn after an early head")
        t.must(not early or early == 200, f"early response status {early}, expected 200 (WIRE-STREAM-17)")
        await st.end_body()
    t.should(early == 200, "no response head before the first turn although the request head said "
                           f"{TURN_FOLLOWS_HEADER}: 1 (WIRE-STREAM-17)")


@sdk_case("SDK-114", "the streaming exchange is refused with 415 for an unsupported protocol version",
          requirements=["WIRE-NEG-2", "VER-PROTO-8"])
async def stream_415(t: SdkContext) -> None:
    await t.require_streaming()
    s = interpreter({"op": "run", "value": 5})
    async with t.stream("Interpreter", "run", content_type=invocation_content_type(99)) as st:
        await st.write_turn(*s.start(resume=False))
        status = await st.response_start(TURN_S)
        t.must_eq(status, 415, "status of a streaming exchange in protocol version 99")
