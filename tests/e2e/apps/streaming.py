"""Workflows for the streaming-mode tests, behind a middleware that counts invoke requests
(HTTP exchanges) and serves the counts at ``GET /stats``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

import reference_sdk as restate
from reference_sdk import WorkflowContext

steps = restate.Workflow("ThreeSteps")
napper = restate.Workflow("NapBetweenSteps")


@steps.main()
async def run(ctx: WorkflowContext, name: str) -> str:
    a = await ctx.run_typed("one", lambda: f"{name}-1")
    b = await ctx.run_typed("two", lambda: f"{a}-2")
    return await ctx.run_typed("three", lambda: f"{b}-3")


@napper.main(name="run")
async def nap(ctx: WorkflowContext, name: str) -> str:
    a = await ctx.run_typed("before", lambda: f"{name}-before")
    await ctx.sleep(timedelta(milliseconds=200))
    return await ctx.run_typed("after", lambda: f"{a}-after")


sdk = restate.app(services=[steps, napper])


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/stats":
        body = orjson.dumps({"exchanges": sdk.exchanges, "turns": sdk.turns})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    await sdk(scope, receive, send)
