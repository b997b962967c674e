"""Run the SDK cases against an endpoint (``durable conformance sdk --endpoint URL``)."""

from __future__ import annotations

import asyncio
import fnmatch
import time
import traceback

from ..model import CaseFailure, CaseResult, Mode, Verdict
from ..target import Target
from .cases import all_sdk_cases
from .driver import SdkContext


async def run_sdk_cases(endpoint: str, patterns: list[str], concurrency: int = 8,
                        stream_idle_s: float | None = None, session_idle_s: float | None = None) -> list[CaseResult]:
    """``stream_idle_s``: the endpoint's bound on the wait for a next turn (WIRE-STREAM-11), and
    ``session_idle_s``: its bound on the age of a held session (WIRE-WARM-2), if known."""
    cases = [c for c in all_sdk_cases()
             if not patterns or any(fnmatch.fnmatchcase(c.id, p) or any(fnmatch.fnmatchcase(r, p) for r in c.requirements)
                                    for p in patterns)]
    target = Target("sdk", endpoint, endpoint)
    sem = asyncio.Semaphore(concurrency)

    async def one(case: object) -> CaseResult:
        from ..model import Case

        assert isinstance(case, Case)
        async with sem:
            ctx = SdkContext(target, Mode.SDK, case.strength)
            ctx.stream_idle_s = stream_idle_s
            ctx.session_idle_s = session_idle_s
            started = time.monotonic()
            verdict, message = Verdict.PASS, ""
            try:
                await asyncio.wait_for(case.fn(ctx), case.timeout_s)
            except CaseFailure as exc:
                verdict, message = exc.verdict, exc.message
            except TimeoutError:
                verdict, message = Verdict.FAIL, f"timed out after {case.timeout_s}s"
            except Exception as exc:
                verdict, message = Verdict.FAIL, "unexpected " + "".join(traceback.format_exception_only(type(exc), exc)).strip()
            finally:
                await ctx.aclose()
            if verdict is Verdict.PASS and ctx.findings:
                verdict, message = Verdict.NON_STRICT, "; ".join(ctx.findings)
            return CaseResult(case, Mode.SDK, verdict, time.monotonic() - started, message, ctx.wire.entries)

    return list(await asyncio.gather(*(one(c) for c in cases)))
