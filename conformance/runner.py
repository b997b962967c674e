"""Run cases concurrently against a target and turn outcomes into verdicts.

Every case gets its own client and wire log, a deadline (``Case.timeout_s``), and random keys,
so cases are independent and can run side by side (``concurrency``). Any unexpected exception
or a timeout is a failure of the case's strength: FAIL for MUST, NON-STRICT for SHOULD. A case
whose capabilities the target does not declare is UNIMPLEMENTED without being run, and a case
that does not apply to the mode is SKIPPED.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Sequence

import httpx

from .context import CaseContext
from .model import Case, CaseFailure, CaseResult, Mode, Strength, Verdict
from .target import Target

ProgressFn = Callable[[CaseResult], None]


async def run_case(case: Case, target: Target, mode: Mode) -> CaseResult:
    started = time.monotonic()
    missing = [c for c in case.capabilities if c not in target.capabilities]
    if missing:
        why = "; ".join(target.lacks_reasons[m] for m in missing if m in target.lacks_reasons)
        return CaseResult(case, mode, Verdict.UNIMPLEMENTED, 0.0,
                          f"capability not declared: {', '.join(missing)}" + (f" ({why})" if why else ""))
    if mode not in case.modes:
        return CaseResult(case, mode, Verdict.SKIPPED, 0.0, f"not applicable in mode {mode.value}")
    ctx = CaseContext(target, mode, case.strength)
    failing = Verdict.FAIL if case.strength is Strength.MUST else Verdict.NON_STRICT
    verdict, message = Verdict.PASS, ""
    try:
        await asyncio.wait_for(case.fn(ctx), timeout=case.timeout_s)
    except CaseFailure as exc:
        verdict, message = exc.verdict, exc.message
    except TimeoutError:
        verdict, message = failing, f"timed out after {case.timeout_s}s"
    except httpx.HTTPError as exc:
        verdict, message = failing, f"HTTP error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug in the case or an unexpected answer shape
        tb = traceback.format_exception_only(type(exc), exc)
        verdict, message = failing, f"unexpected {''.join(tb).strip()}"
    finally:
        await ctx.aclose()
    if verdict is Verdict.PASS and ctx.findings:
        verdict, message = Verdict.NON_STRICT, "; ".join(ctx.findings)
    elif ctx.findings:
        message = "; ".join([message, *ctx.findings])
    if ctx.notes:
        message = "; ".join(m for m in [message, *ctx.notes] if m)
    result = CaseResult(case, mode, verdict, time.monotonic() - started, message, ctx.wire.entries)
    reason = target.differences.get(case.id)
    if reason and verdict not in (Verdict.PASS, Verdict.SKIPPED):
        result.explained = reason
    return result


async def run_cases(
    cases: Sequence[Case],
    target: Target,
    mode: Mode,
    concurrency: int = 16,
    progress: ProgressFn | None = None,
) -> list[CaseResult]:
    sem = asyncio.Semaphore(concurrency)
    # Slow cases first so the tail of the run is short.
    order = sorted(range(len(cases)), key=lambda i: -cases[i].timeout_s)
    results: list[CaseResult | None] = [None] * len(cases)

    async def one(i: int) -> None:
        async with sem:
            r = await run_case(cases[i], target, mode)
        results[i] = r
        if progress is not None:
            progress(r)

    await asyncio.gather(*(one(i) for i in order if not cases[i].exclusive))
    for i in order:  # process-restarting cases run alone, after everything else
        if cases[i].exclusive:
            await one(i)
    return [r for r in results if r is not None]


def summarize(results: Sequence[CaseResult]) -> dict[str, int]:
    out = {v.value: 0 for v in Verdict}
    for r in results:
        out[r.verdict.value] += 1
    return out
