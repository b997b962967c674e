"""The user API end to end over ASGI, against the in-process fake server (warm and cold)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import reference_sdk as restate
from durable.protocol.messages import (
    VOID,
    AttachInvocationCommand,
    CallCommand,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    CompletionNotification,
    Entry,
    Failure,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    InvocationIdResult,
    OutputCommand,
    PeekPromiseCommand,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SignalNotification,
    SleepCommand,
    SuspensionMessage,
    Value,
)
from reference_sdk import ObjectContext, ObjectSharedContext, WorkflowContext, WorkflowSharedContext

from .fakeserver import FakeServer, Invocation, complete_timers_and_ids, output_of

WARM = pytest.mark.parametrize("warm", [True, False], ids=["warm", "replay"])


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def go(
    services: list[Any],
    service: str,
    handler: str,
    arg: Any = None,
    *,
    warm: bool = True,
    key: str | None = None,
    respond: Callable[[Invocation, SuspensionMessage], list[Entry] | None] = complete_timers_and_ids,
    state: dict[str, Any] | None = None,
    clock_ms: Callable[[], int] | None = None,
) -> Invocation:
    options: dict[str, Any] = {} if clock_ms is None else {"clock_ms": clock_ms}
    app = restate.app(services=services, **options)
    return run(FakeServer(app, warm=warm).run(service, handler, Value(arg) if arg is not None else VOID,
                                              key=key, respond=respond, state=state))


class User(BaseModel):
    name: str
    email: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


# ---------------------------------------------------------------------- serde, output, errors


@WARM
def test_pydantic_and_dataclass_serde_from_type_hints(warm: bool) -> None:
    svc = restate.Service("S")

    def make_point(u: User) -> Point:
        return Point(len(u.name), len(u.email))

    @svc.handler()
    async def greet(ctx: restate.Context, user: User) -> Point:
        p = await ctx.run_typed("p", make_point, u=user)
        assert isinstance(p, Point)
        return p

    inv = go([svc], "S", "greet", {"name": "abc", "email": "de"}, warm=warm)
    assert output_of(inv).result == Value({"x": 3, "y": 2})


def test_undecodable_input_is_a_retryable_sdk_failure() -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def greet(ctx: restate.Context, user: User) -> str:
        return user.name

    server = FakeServer(restate.app(services=[svc]), max_attempts=2)
    with pytest.raises(AssertionError, match="code=500") as ei:
        run(server.run("S", "greet", Value({"name": 1})))
    assert "invalid input" in str(ei.value)


def test_state_and_promises_are_refused_where_not_allowed() -> None:
    svc = restate.Service("S")
    obj = restate.VirtualObject("O")

    @svc.handler()
    async def plain(ctx: restate.Context) -> list[str]:
        out = []
        for op in (lambda: ctx.get("a"), lambda: ctx.set("a", 1), lambda: ctx.promise("p")):
            try:
                op()
            except restate.TerminalError as e:
                out.append(e.message)
        return out

    @obj.handler(kind="shared")
    async def shared(ctx: ObjectSharedContext) -> str:
        ctx.set("a", 1)  # type: ignore[attr-defined]
        return "?"

    inv = go([svc], "S", "plain")
    msgs = output_of(inv).result.value  # type: ignore[union-attr]
    assert msgs == [
        "state access is not allowed in handler S/plain of a service",
        "writing state is not allowed in handler S/plain of a service",
        "a durable promise is not allowed in handler S/plain of a service",
    ]
    assert [type(c).__name__ for c in inv.commands()] == ["InputCommand", "OutputCommand"]
    inv = go([obj], "O", "shared", key="k")
    assert output_of(inv).result == Failure(500, "writing state is not allowed in handler O/shared of a virtual object")


def test_terminal_error_becomes_a_failed_output_and_others_are_retried() -> None:
    svc = restate.Service("S")
    attempts: list[int] = []

    @svc.handler()
    async def boom(ctx: restate.Context) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("transient")
        raise restate.TerminalError("nope", status_code=418)

    inv = go([svc], "S", "boom")
    assert output_of(inv).result == Failure(418, "nope")
    assert [e.code for e in inv.errors] == [500, 500]
    assert "ValueError: transient" in inv.errors[0].message and inv.errors[0].stacktrace


@WARM
def test_state_get_set_clear_keys(warm: bool) -> None:
    obj = restate.VirtualObject("Counter")

    @obj.handler()
    async def add(ctx: ObjectContext, n: int) -> int:
        cur = await ctx.get("count", type_hint=int) or 0
        ctx.set("count", cur + n)
        ctx.set("tmp", "x")
        await ctx.sleep(timedelta(milliseconds=1))
        ctx.clear("tmp")
        keys = await ctx.state_keys()
        assert keys == ["count", "other"], keys
        assert ctx.key() == "c1"
        return cur + n

    @obj.handler(kind="shared")
    async def peek(ctx: ObjectSharedContext) -> int | None:
        return await ctx.get("count")

    inv = go([obj], "Counter", "add", 5, key="c1", state={"count": 10, "other": 1}, warm=warm)
    assert output_of(inv).result == Value(15)
    assert inv.state == {"count": 15, "other": 1}


def test_clear_all() -> None:
    obj = restate.VirtualObject("O")

    @obj.handler()
    async def wipe(ctx: ObjectContext) -> list[str]:
        ctx.clear_all()
        return await ctx.state_keys()

    inv = go([obj], "O", "wipe", key="k", state={"a": 1})
    assert output_of(inv).result == Value([]) and inv.state == {}


# ---------------------------------------------------------------------- runs


@WARM
def test_run_retry_policy_exhausts_into_a_terminal_error(warm: bool) -> None:
    svc = restate.Service("S")
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        raise RuntimeError("down")

    @svc.handler()
    async def h(ctx: restate.Context) -> str:
        try:
            return await ctx.run_typed("flaky", flaky, restate.RunOptions(max_attempts=3, initial_retry_interval=timedelta(milliseconds=10)))
        except restate.TerminalError as e:
            return f"gave up: {e}"

    inv = go([svc], "S", "h", warm=warm)
    assert len(tries) == 3
    assert [e.next_retry_delay_ms for e in inv.errors] == [10, 20]
    assert inv.errors[0].related_command_type == "run" and inv.errors[0].related_command_name == "flaky"
    assert inv.errors[0].message == "down" and inv.errors[0].related_command_index == 1
    assert output_of(inv).result == Value("gave up: down")


def test_run_policy_without_intervals_leaves_the_delay_to_the_server() -> None:
    svc = restate.Service("S")

    def flaky() -> str:
        raise RuntimeError("down")

    @svc.handler()
    async def h(ctx: restate.Context) -> str:
        try:
            return await ctx.run_typed("flaky", flaky, restate.RunOptions(max_attempts=2))
        except restate.TerminalError as e:
            return f"{e.status_code}: {e.message}"

    inv = go([svc], "S", "h")
    assert [e.next_retry_delay_ms for e in inv.errors] == [None]
    assert output_of(inv).result == Value("500: down")


def test_run_without_policy_uses_the_server_backoff() -> None:
    svc = restate.Service("S")
    tries: list[int] = []

    def flaky() -> int:
        tries.append(1)
        if len(tries) < 3:
            raise RuntimeError("down")
        return 7

    @svc.handler()
    async def h(ctx: restate.Context) -> int:
        return await ctx.run("flaky", flaky)

    inv = go([svc], "S", "h")
    assert output_of(inv).result == Value(7)
    assert [e.next_retry_delay_ms for e in inv.errors] == [None, None]


def test_terminal_error_in_a_run_is_proposed_as_a_failure() -> None:
    svc = restate.Service("S")

    def bad() -> None:
        raise restate.TerminalError("no way", 422)

    @svc.handler()
    async def h(ctx: restate.Context) -> int:
        try:
            await ctx.run_typed("bad", bad)
        except restate.TerminalError as e:
            return e.status_code
        return 0

    inv = go([svc], "S", "h")
    assert output_of(inv).result == Value(422)
    assert any(isinstance(e, CompletionNotification) and e.result == Failure(422, "no way") for e in inv.journal)


def test_sync_run_closures_do_not_block_the_event_loop() -> None:
    svc = restate.Service("S")
    ticks: list[float] = []

    def slow() -> str:
        time.sleep(0.3)
        return threading.current_thread().name

    async def ticker() -> None:
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    @svc.handler()
    async def h(ctx: restate.Context) -> str:
        t = asyncio.ensure_future(ticker())
        name = await ctx.run_typed("slow", slow)
        await t
        return name

    inv = go([svc], "S", "h")
    out = output_of(inv).result
    assert isinstance(out, Value) and out.value != threading.main_thread().name
    assert len(ticks) == 5 and ticks[-1] - ticks[0] < 0.25


@WARM
def test_a_run_result_is_never_observed_before_the_server_stored_it(warm: bool) -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def h(ctx: restate.Context) -> int:
        return await ctx.run_typed("one", lambda: 1)

    inv = go([svc], "S", "h", warm=warm)
    first = inv.responses[0]
    assert isinstance(first[-1], SuspensionMessage), "the handler must wait for the stored completion"
    assert not any(isinstance(m, OutputCommand) for m in first)
    assert output_of(inv).result == Value(1)


# ---------------------------------------------------------------------- determinism


@WARM
def test_uuid_random_time_are_stable_across_replays(warm: bool) -> None:
    svc = restate.Service("S")
    seen: list[tuple[str, float, float]] = []

    @svc.handler()
    async def h(ctx: restate.Context) -> list[Any]:
        u, r = str(ctx.uuid()), ctx.random().random()
        t = await ctx.time()
        await ctx.sleep(timedelta(0))
        seen.append((u, r, t))
        return [u, r, t]

    inv = go([svc], "S", "h", warm=warm)
    out = output_of(inv).result
    assert isinstance(out, Value)
    assert len({s for s in seen}) == 1
    assert abs(out.value[2] - time.time()) < 60


def test_nondeterminism_is_reported_with_a_diff() -> None:
    svc = restate.Service("S")
    names = iter(["first", "second", "second", "second"])

    @svc.handler()
    async def h(ctx: restate.Context) -> None:
        await ctx.run_typed(next(names), lambda: None)

    server = FakeServer(restate.app(services=[svc]), warm=False, max_attempts=3)
    with pytest.raises(AssertionError, match="gave up") as ei:
        run(server.run("S", "h", VOID))
    msg = str(ei.value)
    assert "code=570" in msg and "related_command_index=1" in msg and "related_command_type='run'" in msg
    assert 'field name: expected \\"first\\", actual \\"second\\"' in msg or "field name" in msg


# ---------------------------------------------------------------------- calls and sends


def test_calls_sends_and_delayed_sends() -> None:
    callee = restate.Service("Callee")
    keyed = restate.VirtualObject("Obj")
    flow = restate.Workflow("Flow")

    @callee.handler()
    async def echo(ctx: restate.Context, u: User) -> User:
        return u

    @keyed.handler()
    async def bump(ctx: ObjectContext) -> int:
        return 1

    @flow.main()
    async def run(ctx: WorkflowContext, n: int) -> int:
        return n

    caller = restate.Service("Caller")

    @caller.handler()
    async def go_(ctx: restate.Context) -> list[Any]:
        u = await ctx.service_call(echo, arg=User(name="a", email="b"))
        call = ctx.object_call(bump, key="k1", arg=None)
        n = await call
        cid = await call.invocation_id()
        w = await ctx.workflow_call(run, key="w1", arg=3)
        h = ctx.service_send(echo, arg=User(name="c", email="d"), send_delay=timedelta(seconds=10))
        sid = await h.invocation_id()
        ctx.object_send(bump, key="k2")
        ctx.workflow_send(run, key="w2", arg=4)
        raw = await ctx.generic_call("Callee", "echo", b'{"name": "x", "email": "y"}')
        ctx.generic_send("Callee", "echo", b"not json", send_delay=timedelta(seconds=1))
        return [u.name, n, cid, w, sid, raw.decode()]

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        out = complete_timers_and_ids(inv, s) or []
        cids, _ = s.awaiting.leaves()
        done = {e.completion_id for e in inv.journal if isinstance(e, CompletionNotification)}
        for c in inv.commands():
            if isinstance(c, CallCommand) and c.completion_id in cids and c.completion_id not in done:
                result = c.parameter if c.service == "Callee" else Value(1 if c.service == "Obj" else c.parameter.value)  # type: ignore[union-attr]
                out.append(CompletionNotification(0, completion_id=c.completion_id, result=result))
        return out

    now = 1_000_000
    inv = go([caller, callee, keyed, flow], "Caller", "go_", respond=respond, clock_ms=lambda: now)
    assert output_of(inv).result == Value(["a", 1, "inv_child3", 3, "inv_child7", '{"name":"x","email":"y"}'])
    calls = [c for c in inv.commands() if isinstance(c, CallCommand)]
    assert [(c.service, c.handler, c.key) for c in calls] == [
        ("Callee", "echo", None), ("Obj", "bump", "k1"), ("Flow", "run", "w1"), ("Callee", "echo", None)]
    assert calls[0].parameter == Value({"name": "a", "email": "b"})
    assert calls[1].parameter == VOID
    sends = [c for c in inv.commands() if isinstance(c, SendCommand)]
    assert [(c.service, c.key, c.invoke_time_ms) for c in sends] == [
        ("Callee", None, now + 10_000), ("Obj", "k2", None), ("Flow", "w2", None), ("Callee", None, now + 1000)]
    assert sends[3].parameter.data == b"not json"  # type: ignore[union-attr]


def test_failed_call_raises_terminal_error() -> None:
    callee = restate.Service("Callee")

    @callee.handler()
    async def fail(ctx: restate.Context) -> None:
        return None

    caller = restate.Service("Caller")

    @caller.handler()
    async def h(ctx: restate.Context) -> str:
        try:
            await ctx.service_call(fail)
        except restate.TerminalError as e:
            return f"{e.status_code}:{e.message}"
        return "?"

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        c = next(c for c in inv.commands() if isinstance(c, CallCommand))
        return [CompletionNotification(0, completion_id=c.invocation_id_completion_id, result=InvocationIdResult("inv_x")),
                CompletionNotification(0, completion_id=c.completion_id, result=Failure(404, "gone"))]

    inv = go([caller, callee], "Caller", "h", respond=respond)
    assert output_of(inv).result == Value("404:gone")


# ---------------------------------------------------------------------- promises, awakeables


@WARM
def test_promises(warm: bool) -> None:
    wf = restate.Workflow("W")

    @wf.main()
    async def run(ctx: WorkflowContext) -> list[Any]:
        peeked = await ctx.promise("p", type_hint=str).peek()
        await ctx.promise("mine").resolve({"a": 1})
        try:
            await ctx.promise("mine").reject("again")
        except restate.TerminalError as e:
            rejected = e.status_code
        v = await ctx.promise("p", type_hint=str).value()
        v2 = await ctx.promise("p", type_hint=str)
        return [peeked, rejected, v, v2]

    @wf.handler()
    async def other(ctx: WorkflowSharedContext) -> None:
        await ctx.promise("p").resolve("x")

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        cids, _ = s.awaiting.leaves()
        out: list[Entry] = []
        done = {e.completion_id for e in inv.journal if isinstance(e, CompletionNotification)}
        completes = 0
        for c in inv.commands():
            if c.completion_ids() and c.completion_ids()[0] in done:
                completes += isinstance(c, CompletePromiseCommand)
                continue
            if isinstance(c, PeekPromiseCommand) and c.completion_id in cids:
                out.append(CompletionNotification(0, completion_id=c.completion_id, result=VOID))
            elif isinstance(c, CompletePromiseCommand) and c.completion_id in cids:
                ok = completes == 0
                out.append(CompletionNotification(0, completion_id=c.completion_id,
                                                  result=VOID if ok else Failure(409, "already completed")))
            elif isinstance(c, GetPromiseCommand) and c.completion_id in cids:
                out.append(CompletionNotification(0, completion_id=c.completion_id, result=Value("hello")))
        return out

    inv = go([wf], "W", "run", key="k", respond=respond, warm=warm)
    assert output_of(inv).result == Value([None, 409, "hello", "hello"])
    cp = [c for c in inv.commands() if isinstance(c, CompletePromiseCommand)]
    assert [c.result for c in cp] == [Value({"a": 1}), Failure(500, "again")]


@WARM
def test_awakeables(warm: bool) -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def h(ctx: restate.Context) -> str:
        awk_id, fut = ctx.awakeable(type_hint=str)
        assert restate.decode_awakeable_id(awk_id) == ("inv_test1", 17)
        ctx.resolve_awakeable(awk_id, "self")
        ctx.reject_awakeable(restate.encode_awakeable_id("inv_other", 20), "no", 418)
        return await fut

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        _c, sigs = s.awaiting.leaves()
        return [SignalNotification(0, signal_id=17, result=Value("woken"))] if 17 in sigs else None

    inv = go([svc], "S", "h", respond=respond, warm=warm)
    assert output_of(inv).result == Value("woken")
    ca = [c for c in inv.commands() if isinstance(c, CompleteAwakeableCommand)]
    assert ca[0].result == Value("self") and ca[1].result == Failure(418, "no")


# ---------------------------------------------------------------------- combinators


def _timers_in_order(order: list[str]) -> Callable[[Invocation, SuspensionMessage], list[Entry] | None]:
    """Fire the named sleeps one per suspension, in the given order."""
    queue = list(order)

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        _cids, _ = s.awaiting.leaves()
        done = {e.completion_id for e in inv.journal if isinstance(e, CompletionNotification)}
        sleeps = {c.name: c for c in inv.commands() if isinstance(c, SleepCommand)}
        while queue:
            name = queue.pop(0)
            c = sleeps.get(name)
            if c is not None and c.completion_id not in done:
                return [CompletionNotification(0, completion_id=c.completion_id, result=VOID)]
        return None

    return respond


@WARM
def test_select_with_match_and_journal_order(warm: bool) -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def h(ctx: restate.Context) -> list[str]:
        a, b, c = (ctx.sleep(timedelta(seconds=i), name=n) for i, n in ((1, "a"), (2, "b"), (3, "c")))
        got = []
        for _ in range(2):
            match await restate.select(first=a, second=b, third=c):
                case ["first", _]:
                    got.append("first")
                    a = ctx.sleep(timedelta(days=1), name="never")
                case ["third", _]:
                    got.append("third")
                    c = ctx.sleep(timedelta(days=1), name="never2")
                case [name, _]:
                    got.append(name)
        return got

    inv = go([svc], "S", "h", respond=_timers_in_order(["c", "a"]), warm=warm)
    assert output_of(inv).result == Value(["third", "first"])


@WARM
def test_gather_as_completed_wait_completed(warm: bool) -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def h(ctx: restate.Context) -> list[Any]:
        futs = [ctx.sleep(timedelta(seconds=1), name=n) for n in ("x", "y", "z")]
        done, pending = await restate.wait_completed(*futs)
        first = [futs.index(f) for f in done]
        order = []
        async for f in restate.as_completed(*pending):
            order.append(futs.index(f))
        runs = [ctx.run_typed(f"r{i}", lambda i=i: i * 10) for i in range(3)]
        gathered = await restate.gather(*runs)
        return [first, order, [await f for f in gathered]]

    seq = _timers_in_order(["y", "z", "x"])
    inv = go([svc], "S", "h", respond=seq, warm=warm)
    assert output_of(inv).result == Value([[1], [2, 0], [0, 10, 20]])


def test_first_succeeded_and_timeout() -> None:
    svc = restate.Service("S")

    def fail() -> None:
        raise restate.TerminalError("f1")

    @svc.handler()
    async def h(ctx: restate.Context) -> list[Any]:
        a = ctx.run_typed("a", fail)
        b = ctx.run_typed("b", lambda: "ok")
        won = await restate.first_succeeded(a, b)
        def fail2() -> None:
            time.sleep(0.1)  # completes after "c": the last failure is the one raised
            raise restate.TerminalError("f2")

        try:
            await restate.first_succeeded(ctx.run_typed("c", fail), ctx.run_typed("d", fail2))
        except restate.TerminalError as e:
            lost = e.message
        slow = ctx.promise("never").value() if False else ctx.awakeable()[1]
        try:
            await slow.with_timeout(timedelta(seconds=5))
            timed = "no"
        except restate.TimeoutError as e:
            timed = str(e.status_code)
        quick = await ctx.run_typed("e", lambda: 5).or_timeout(timedelta(seconds=5))
        return [won, lost, timed, quick]

    inv = go([svc], "S", "h")
    assert output_of(inv).result == Value(["ok", "f2", "408", 5])


# ---------------------------------------------------------------------- cancellation, invocations


@WARM
def test_cancel_raises_409_at_the_next_await_and_is_forwarded_to_children(warm: bool) -> None:
    svc = restate.Service("S")
    child = restate.Service("Child")
    compensated: list[str] = []

    @child.handler()
    async def work(ctx: restate.Context) -> None:
        return None

    @svc.handler()
    async def h(ctx: restate.Context) -> str:
        call = ctx.service_call(work)
        await call.invocation_id()
        try:
            await call
        except restate.TerminalError as e:
            await ctx.run_typed("compensate", lambda: compensated.append("undo"))
            raise restate.TerminalError(f"{e.message}", e.status_code) from e
        return "finished"

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        out = complete_timers_and_ids(inv, s)
        if out:
            return out
        if any(isinstance(e, SignalNotification) for e in inv.journal):
            return None
        return [SignalNotification(0, signal_id=1, result=VOID)]

    inv = go([svc, child], "S", "h", respond=respond, warm=warm)
    assert output_of(inv).result == Failure(409, "cancelled")
    sig = [c for c in inv.commands() if isinstance(c, SendSignalCommand)]
    assert [(s.target_invocation_id, s.signal_id) for s in sig] == [("inv_child1", 1)]
    assert [c.name for c in inv.commands() if isinstance(c, RunCommand)] == ["compensate"]
    assert compensated == ["undo"]


def test_cancel_invocation_attach_and_output() -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def h(ctx: restate.Context) -> list[Any]:
        ctx.cancel_invocation("inv_victim")
        out = await ctx.get_invocation_output("inv_other")
        att = await ctx.attach_invocation("inv_other")
        wf = await ctx.attach_workflow("W", "k")
        return [out, att, wf]

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        cids, _ = s.awaiting.leaves()
        out: list[Entry] = []
        for c in inv.commands():
            if isinstance(c, GetInvocationOutputCommand) and c.completion_id in cids:
                out.append(CompletionNotification(0, completion_id=c.completion_id, result=VOID))
            if isinstance(c, AttachInvocationCommand) and c.completion_id in cids:
                out.append(CompletionNotification(0, completion_id=c.completion_id, result=Value(dict(c.target))))
        return out

    inv = go([svc], "S", "h", respond=respond)
    assert output_of(inv).result == Value(
        [None, {"invocation_id": "inv_other"}, {"workflow_name": "W", "workflow_key": "k"}])
    assert any(isinstance(c, SendSignalCommand) and c.target_invocation_id == "inv_victim" for c in inv.commands())


@WARM
def test_cancel_before_the_child_id_is_known_waits_for_it(warm: bool) -> None:
    svc = restate.Service("S")
    child = restate.Service("Child")

    @child.handler()
    async def work(ctx: restate.Context) -> None:
        return None

    @svc.handler()
    async def h(ctx: restate.Context) -> str:
        await ctx.service_call(work)
        return "finished"

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        if not any(isinstance(e, SignalNotification) for e in inv.journal):
            return [SignalNotification(0, signal_id=1, result=VOID)]
        call = next(c for c in inv.commands() if isinstance(c, CallCommand))
        cids, _ = s.awaiting.leaves()
        assert call.invocation_id_completion_id in cids
        return [CompletionNotification(0, completion_id=call.invocation_id_completion_id,
                                       result=InvocationIdResult("inv_late"))]

    inv = go([svc, child], "S", "h", respond=respond, warm=warm)
    assert output_of(inv).result == Failure(409, "cancelled")
    sig = [c for c in inv.commands() if isinstance(c, SendSignalCommand)]
    assert [(s.target_invocation_id, s.signal_id) for s in sig] == [("inv_late", 1)]


def test_custom_serdes() -> None:
    from reference_sdk.serde import BytesSerde, JsonSerde, PydanticJsonSerde

    svc = restate.Service("S")

    @svc.handler(input_serde=BytesSerde(), output_serde=BytesSerde())
    async def raw(ctx: restate.Context, data: bytes) -> bytes:
        return data[::-1]

    @svc.handler(input_serde=PydanticJsonSerde(User), output_serde=JsonSerde())
    async def typed(ctx: restate.Context, u: User) -> Any:
        got = await ctx.run("r", lambda: {"k": [1, 2]}, serde=JsonSerde())
        return {"name": u.name, "got": got}

    from durable.protocol.messages import RawValue

    app = restate.app(services=[svc])
    inv = run(FakeServer(app).run("S", "raw", RawValue(b"\x00\xffab")))
    assert output_of(inv).result == RawValue(b"ba\xff\x00")
    inv = go([svc], "S", "typed", {"name": "n", "email": "e"})
    assert output_of(inv).result == Value({"name": "n", "got": {"k": [1, 2]}})


@WARM
def test_concurrent_awaits_with_asyncio_gather(warm: bool) -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def h(ctx: restate.Context) -> list[Any]:
        a = ctx.sleep(timedelta(seconds=1), name="a")
        b = ctx.sleep(timedelta(seconds=2), name="b")
        r = ctx.run_typed("r", lambda: 3)
        return list(await asyncio.gather(a, b, r))

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        cids, _ = s.awaiting.leaves()
        sleeps = [c for c in inv.commands() if isinstance(c, SleepCommand) and c.completion_id in cids]
        return [CompletionNotification(0, completion_id=c.completion_id, result=VOID) for c in sleeps] or None

    inv = go([svc], "S", "h", respond=respond, warm=warm)
    assert output_of(inv).result == Value([None, None, 3])
