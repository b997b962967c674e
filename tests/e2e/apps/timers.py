"""A one-handler service for measuring timer accuracy: sleep, then record when it woke."""

from __future__ import annotations

import time
from datetime import timedelta

import reference_sdk as restate
from reference_sdk import Context

sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def sleep(ctx: Context, ms: int) -> float:
    await ctx.sleep(timedelta(milliseconds=ms))
    return await ctx.run_typed("woke", time.time)


app = restate.app(services=[sleeper])
