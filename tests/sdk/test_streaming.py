"""The SDK side of the streaming mode (spec/02 section 2.9), driven over ASGI turn by turn: the
test writes a turn, reads that turn's response while the request body is still open, then
decides what comes next (a warm resume, a mismatched one, a full journal, the end, silence)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import reference_sdk as restate
from durable.protocol.framing import decode_frames, encode_frames
from durable.protocol.messages import (
    CompletionNotification,
    EndMessage,
    ErrorMessage,
    InputCommand,
    Message,
    OutputCommand,
    ProposeRunCompletionMessage,
    ResumeMissMessage,
    RunCommand,
    StartMessage,
    SuspensionMessage,
    Value,
    invocation_content_type,
)
from durable.protocol.schemas import validate_frames
from reference_sdk.endpoint import App

CT = invocation_content_type()
TERMINATORS = (EndMessage, SuspensionMessage, ErrorMessage, ResumeMissMessage)


def sync(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))

    return run


def make_app(**options: Any) -> App:
    wf = restate.Workflow("Flow")
    runs: list[int] = []

    def step(i: int, value: int) -> int:
        runs.append(i)
        return value

    @wf.main(name="run")
    async def run(ctx: restate.WorkflowContext, n: int) -> int:
        a = await ctx.run_typed("one", step, i=1, value=n + 1)
        return await ctx.run_typed("two", step, i=2, value=a * 10)

    app = restate.app(services=[wf], **options)
    assert isinstance(app, App)
    app.runs = runs  # type: ignore[attr-defined]
    return app


class Stream:
    """One invoke request to the app: write request chunks, read response chunks."""

    def __init__(self, app: App) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "http", "method": "POST", "path": "/invoke/Flow/run",
                 "headers": [(b"content-type", CT.encode())]}
        self.task = asyncio.create_task(app(scope, self.inbox.get, self.outbox.put))
        self.status = 0
        self.ended = False

    def write(self, data: bytes, more: bool = True) -> None:
        self.inbox.put_nowait({"type": "http.request", "body": data, "more_body": more})

    async def read_turn(self) -> list[Message]:
        """The next turn's response (to its terminator); [] if the response ended first."""
        body = b""
        for _ in range(1000):  # bounded
            msg = await self.outbox.get()
            if msg["type"] == "http.response.start":
                self.status = msg["status"]
                continue
            body += msg.get("body", b"")
            if not msg.get("more_body", False):
                self.ended = True
            if body.endswith(b"\n"):
                validate_frames(body)
                frames = decode_frames(body)
                if isinstance(frames[-1], TERMINATORS):
                    return frames
            if self.ended:
                assert not body, body
                return []
        raise AssertionError("too many response chunks")

    async def end(self, *, eof: bool = True) -> None:
        """The server ends the request body (WIRE-STREAM-7); the response then ends, empty."""
        if eof:
            self.write(b"", more=False)
        assert await self.read_turn() == [] and self.ended
        await self.task


def first_turn(attempt: str = "a1") -> bytes:
    return encode_frames([
        StartMessage(invocation_id="inv_s", service="Flow", handler="run", key="k", attempt_id=attempt,
                     journal_length=1, state={}),
        InputCommand(0, parameter=Value(4)),
    ])


def resume(attempt: str, previous: str, length: int, cid: int, value: int, **kw: Any) -> bytes:
    return encode_frames([
        StartMessage(invocation_id=kw.pop("invocation_id", "inv_s"), service="Flow", handler="run", key="k",
                     attempt_id=attempt, journal_length=length + 1, resume_from=length,
                     resume_attempt_id=previous),
        CompletionNotification(length, completion_id=cid, result=Value(value)),
    ])


@sync
async def test_turns_on_one_stream_continue_the_session() -> None:
    """WIRE-STREAM-4/5/8/9/10: two ctx.run steps, three turns, one request, no replay."""
    app = make_app()
    s = Stream(app)
    s.write(first_turn())
    t1 = await s.read_turn()
    assert s.status == 200 and not s.ended
    assert [type(m) for m in t1] == [RunCommand, ProposeRunCompletionMessage, SuspensionMessage]
    assert len(app.sessions) == 1  # WIRE-STREAM-12: available before the stream ends
    s.write(resume("a2", "a1", 2, 1, 5))
    t2 = await s.read_turn()
    assert [type(m) for m in t2] == [RunCommand, ProposeRunCompletionMessage, SuspensionMessage]
    assert isinstance(t2[0], RunCommand) and t2[0].index == 3 and not s.ended
    s.write(resume("a3", "a2", 4, 2, 50))
    t3 = await s.read_turn()
    assert [type(m) for m in t3] == [OutputCommand, EndMessage]
    assert isinstance(t3[0], OutputCommand) and t3[0].result == Value(50)
    assert s.outbox.empty() and not s.ended  # nothing after the terminator (WIRE-STREAM-9)
    await s.end()
    assert app.exchanges == 1 and app.turns == 3
    assert app.runs == [1, 2]  # type: ignore[attr-defined]


@sync
async def test_turn_split_into_tiny_chunks() -> None:
    app = make_app()
    s = Stream(app)
    data = first_turn()
    for i in range(len(data)):
        s.write(data[i : i + 1])
    t1 = await s.read_turn()
    assert isinstance(t1[-1], SuspensionMessage)
    s.write(b"", more=False)
    await s.end()


@sync
async def test_mismatched_resume_on_the_stream_is_a_resume_miss() -> None:
    """WIRE-STREAM-10, WIRE-WARM-5: a start that does not continue the held session."""
    app = make_app()
    s = Stream(app)
    s.write(first_turn())
    assert isinstance((await s.read_turn())[-1], SuspensionMessage)
    s.write(resume("a2", "not-a1", 2, 1, 5))
    assert [type(m) for m in await s.read_turn()] == [ResumeMissMessage]
    await s.end()
    assert len(app.sessions) == 0  # the session of that invocation is dropped


@sync
async def test_full_journal_or_other_invocation_on_the_stream_is_a_protocol_violation() -> None:
    for bad in (first_turn("a2"), resume("a2", "a1", 2, 1, 5, invocation_id="inv_other"), b'{"type":"end"}\n'):
        app = make_app()
        s = Stream(app)
        s.write(first_turn())
        assert isinstance((await s.read_turn())[-1], SuspensionMessage)
        s.write(bad)
        out = await s.read_turn()
        assert isinstance(out[-1], ErrorMessage) and out[-1].code == 571, out
        await s.end()


@sync
async def test_end_of_body_ends_the_response_and_keeps_the_session() -> None:
    """WIRE-STREAM-10/12: EOF after a suspension; a new request then resumes warm."""
    app = make_app()
    s = Stream(app)
    s.write(first_turn())
    assert isinstance((await s.read_turn())[-1], SuspensionMessage)
    s.write(b"", more=False)
    await s.end()
    s2 = Stream(app)
    s2.write(resume("a2", "a1", 2, 1, 5), more=False)
    t2 = await s2.read_turn()
    assert isinstance(t2[0], RunCommand) and t2[0].index == 3
    await s2.end()
    assert app.exchanges == 2 and app.runs == [1, 2]  # type: ignore[attr-defined]


@sync
async def test_silence_after_a_suspension_ends_the_response() -> None:
    """WIRE-STREAM-11: the wait for the next turn is bounded; the session survives it."""
    app = make_app(stream_idle_seconds=0.05)
    s = Stream(app)
    s.write(first_turn())
    assert isinstance((await s.read_turn())[-1], SuspensionMessage)
    await s.end(eof=False)  # nothing was written: the bound ended the response
    assert len(app.sessions) == 1


@sync
async def test_request_response_body_is_one_turn() -> None:
    """WIRE-STREAM-2: a complete body (request/response mode) is a stream of one turn."""
    app = make_app(protocol="request_response")
    s = Stream(app)
    s.write(first_turn(), more=False)
    assert isinstance((await s.read_turn())[-1], SuspensionMessage)
    await s.end()
    s = Stream(app)
    s.write(first_turn("a9") + b'{"type":"end"}\n', more=False)  # WIRE-REQ-2: nothing else
    out = await s.read_turn()
    assert isinstance(out[-1], ErrorMessage) and out[-1].code == 571
    await s.end()


@sync
async def test_response_ends_after_a_final_terminator_even_if_the_body_stays_open() -> None:
    """WIRE-STREAM-9: a bounded wait for the end of the request body, then the response ends."""
    app = make_app()
    s = Stream(app)
    s.write(first_turn())
    assert isinstance((await s.read_turn())[-1], SuspensionMessage)
    s.write(resume("a2", "a1", 2, 1, 5))
    assert isinstance((await s.read_turn())[-1], SuspensionMessage)
    s.write(resume("a3", "a2", 4, 2, 50))
    assert isinstance((await s.read_turn())[-1], EndMessage)
    await s.end(eof=False)  # the test never ends the request body
