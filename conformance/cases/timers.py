"""Durable timers and delayed invocations (spec/03 sleep, spec/05 delay)."""

from __future__ import annotations

import asyncio
import time

from ..context import CaseContext
from ..model import Strength
from ..registry import case


@case("TMR-001", "a sleep never ends early", requirements=["JRN-TIMER-1"])
async def sleep_lower_bound(t: CaseContext) -> None:
    start = time.monotonic()
    await t.interpret_ok(t.uid(), [{"op": "sleep", "ms": 500}])
    t.must(time.monotonic() - start >= 0.5, f"sleep(500ms) returned after {time.monotonic() - start:.3f}s")


@case("TMR-002", "concurrent sleeps all complete and end no earlier than the longest", requirements=["JRN-TIMER-1", "TS-UTILS-5"])
async def concurrent_sleeps(t: CaseContext) -> None:
    start = time.monotonic()
    await t.call_ok("TestUtilsService", "sleepConcurrently", [100, 300, 200])
    t.must(time.monotonic() - start >= 0.3, "returned before the longest sleep")
    start = time.monotonic()
    out = await t.interpret_ok(t.uid(), [{"op": "await", "mode": "all", "of": [{"sleep": 100}, {"sleep": 300}]},
                                         {"op": "run", "value": "after"}])
    t.must_eq(out, [[{"value": None}, {"value": None}], "after"], "interpreter sleeps")
    t.must(time.monotonic() - start >= 0.3, "all-completed returned before the longest sleep")


@case("TMR-003", "many invocations with many short timers all complete", requirements=["JRN-TIMER-1"], timeout_s=45)
async def many_timers(t: CaseContext) -> None:
    start = time.monotonic()
    sleeps = [{"sleep": 10 + 10 * (i % 5)} for i in range(10)]
    rs = await asyncio.gather(*(t.interpret(t.uid(), [{"op": "await", "mode": "all", "of": sleeps}, {"op": "run", "value": n}])
                                for n in range(20)))
    answers = [r.json() if r.status_code == 200 else r.status_code for r in rs]
    t.must(answers == [[[{"value": None}] * 10, n] for n in range(20)], f"answers {answers[:3]}...")
    t.note(f"20 invocations x 10 timers in {time.monotonic() - start:.2f}s")


@case("TMR-004", "a zero-length sleep completes", requirements=["JRN-TIMER-1"])
async def zero_sleep(t: CaseContext) -> None:
    t.must_eq(await t.interpret_ok(t.uid(), [{"op": "sleep", "ms": 0}, {"op": "run", "value": 1}]), [None, 1], "results")


@case("TMR-005", "a due timer fires promptly (within 2 s of its time)", requirements=["JRN-TIMER-2"], strength=Strength.SHOULD)
async def timer_upper_bound(t: CaseContext) -> None:
    start = time.monotonic()
    await t.interpret_ok(t.uid(), [{"op": "sleep", "ms": 200}])
    took = time.monotonic() - start
    t.must(took < 2.2, f"sleep(200ms) took {took:.2f}s")


def _delayed(delay: str, seconds: float) -> object:
    async def fn(t: CaseContext) -> None:
        key = t.uid()
        start = time.monotonic()
        await t.send_ok("Counter", "add", 1, key=key, delay=delay)

        async def get() -> object:
            return await t.call_ok("Counter", "get", key=key)

        early = await get()
        t.must(early == 0 or time.monotonic() - start >= seconds,
               f"the delayed add ran {time.monotonic() - start:.2f}s after the send, before its {seconds}s delay")
        await t.eventually(get, lambda v: v == 1, 15, "delayed send executed")
        elapsed = time.monotonic() - start
        t.must(elapsed >= seconds - 0.05, f"delayed send ran after {elapsed:.2f}s, before its {seconds}s delay")

    return fn


case("TMR-006", "ingress send with ?delay=1s (short form) runs after the delay",
     requirements=["ING-DELAY-1"], capabilities=["ingress.delayed_send"])(_delayed("1s", 1.0))  # type: ignore[arg-type]
case("TMR-007", "ingress send with ?delay=PT1S (ISO 8601) runs after the delay",
     requirements=["ING-DELAY-1"], capabilities=["ingress.delayed_send"])(_delayed("PT1S", 1.0))  # type: ignore[arg-type]
case("TMR-008", "ingress send with ?delay=1500ms runs after the delay",
     requirements=["ING-DELAY-1"], capabilities=["ingress.delayed_send"])(_delayed("1500ms", 1.5))  # type: ignore[arg-type]


@case("TMR-009", "the shorter of two sleeps wins a race", requirements=["JRN-TIMER-1", "JRN-COMB-1"])
async def shorter_wins(t: CaseContext) -> None:
    out = await t.interpret_ok(t.uid(), [{"op": "await", "mode": "first", "of": [{"sleep": 2000}, {"sleep": 50}]}])
    t.must_eq(out[0].get("index"), 1, "winner")


@case("TMR-010", "sequential sleeps add up", requirements=["JRN-TIMER-1"])
async def sequential(t: CaseContext) -> None:
    start = time.monotonic()
    await t.interpret_ok(t.uid(), [{"op": "sleep", "ms": 150}] * 3)
    t.must(time.monotonic() - start >= 0.45, f"3 x 150 ms took {time.monotonic() - start:.3f}s")
