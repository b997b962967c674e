"""WIRE-WARM-8 at the API level: random handler programs give the same journal and output
whether the fake server resumes warm sessions or always replays from the start."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference_sdk as restate
from durable.protocol.messages import (
    CallCommand,
    CompletionNotification,
    Entry,
    InvocationIdResult,
    SleepCommand,
    SuspensionMessage,
    Value,
)

from .fakeserver import FakeServer, Invocation, output_of

callee = restate.Service("Callee")


@callee.handler()
async def echo(ctx: restate.Context, x: int) -> int:
    return x


obj = restate.VirtualObject("Prog")


@obj.handler()
async def interpret(ctx: restate.ObjectContext, program: list[list[Any]]) -> list[Any]:
    seen: list[Any] = []
    for n, (op, arg) in enumerate(program):
        if op == "set":
            ctx.set(f"k{arg % 3}", arg)
        elif op == "get":
            seen.append(await ctx.get(f"k{arg % 3}"))
        elif op == "run":
            seen.append(await ctx.run_typed(f"r{n}", lambda arg=arg: arg * 2))
        elif op == "sleep":
            await ctx.sleep(timedelta(milliseconds=arg), name=f"s{n}")
        elif op == "select":
            a, b = ctx.sleep(timedelta(seconds=1), name=f"a{n}"), ctx.sleep(timedelta(seconds=2), name=f"b{n}")
            seen.append((await restate.select(a=a, b=b))[0])
        elif op == "wait":
            futs = [ctx.sleep(timedelta(seconds=1), name=f"w{n}.{i}") for i in range(3)]
            done, _ = await restate.wait_completed(*futs)
            seen.append(len(done))
        elif op == "drain":
            pending = [ctx.sleep(timedelta(seconds=1), name=f"d{n}.{i}") for i in range(3)]
            while pending:
                done, pending = await restate.wait_completed(*pending)
                seen.append(len(done))
        elif op == "call":
            seen.append(await ctx.service_call(echo, arg=arg))
        elif op == "random":
            seen.append(ctx.random().randint(0, 1000))
    return seen


OPS = st.lists(
    st.tuples(st.sampled_from(["set", "get", "run", "sleep", "select", "wait", "drain", "call", "random"]), st.integers(0, 9)),
    max_size=10,
)


def responder(seed: int) -> Any:
    """Complete what is awaited in a pseudo-random but reproducible order, a few at a time."""

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        cids, _ = s.awaiting.leaves()
        done = {e.completion_id for e in inv.journal if isinstance(e, CompletionNotification)}
        out: list[Entry] = []
        for c in inv.commands():
            if isinstance(c, CallCommand):
                if c.invocation_id_completion_id not in done:
                    out.append(CompletionNotification(0, completion_id=c.invocation_id_completion_id,
                                                      result=InvocationIdResult(f"inv_c{c.index}")))
                if c.completion_id in cids and c.completion_id not in done:
                    out.append(CompletionNotification(0, completion_id=c.completion_id, result=c.parameter))  # type: ignore[arg-type]
        sleeps = sorted((c for c in inv.commands() if isinstance(c, SleepCommand)
                         and c.completion_id in cids and c.completion_id not in done),
                        key=lambda c: (c.completion_id * 7919 + seed) % 13)
        from durable.protocol.messages import VOID

        out.extend(CompletionNotification(0, completion_id=c.completion_id, result=VOID)
                   for c in sleeps[: 1 + seed % 2])
        return out or None

    return respond


def execute(program: list[tuple[str, int]], warm: bool, seed: int) -> Invocation:
    app = restate.app(services=[obj, callee], clock_ms=lambda: 1_000_000)
    coro = FakeServer(app, warm=warm, max_attempts=500).run(
        "Prog", "interpret", Value([list(p) for p in program]), key="k", respond=responder(seed))
    return asyncio.run(asyncio.wait_for(coro, 60))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.integers(0, 5))
def test_warm_sessions_and_full_replays_agree(program: list[tuple[str, int]], seed: int) -> None:
    warm = execute(program, True, seed)
    cold = execute(program, False, seed)
    assert [e.to_json() for e in warm.journal] == [e.to_json() for e in cold.journal]
    assert output_of(warm).result == output_of(cold).result
    assert not warm.errors and not cold.errors
