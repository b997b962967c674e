"""A workflow on the real reference SDK for the crash test: a step, a durable sleep, a
durable promise, another step. Effects go to a ledger file named by DURABLE_TEST_LEDGER."""

from __future__ import annotations

import os
from datetime import timedelta

import reference_sdk as restate
from reference_sdk import WorkflowContext, WorkflowSharedContext

crash_flow = restate.Workflow("CrashFlow")


def _log(line: str) -> None:
    path = os.environ.get("DURABLE_TEST_LEDGER")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def _effect(key: str, step: str) -> str:
    _log(f"executed {key} {step}")
    return step


@crash_flow.main()
async def run(ctx: WorkflowContext, _: None = None) -> str:
    key = ctx.key()
    a = await ctx.run("a", lambda: _effect(key, "a"))
    _log(f"acked {key} a")
    await ctx.sleep(timedelta(milliseconds=300))
    value = await ctx.promise("go", type_hint=str).value()
    b = await ctx.run("b", lambda: _effect(key, "b"))
    _log(f"acked {key} b")
    return f"{a}{b}{value}"


@crash_flow.handler("go")
async def go(ctx: WorkflowSharedContext, value: str) -> None:
    await ctx.promise("go", type_hint=str).resolve(value)


app = restate.app(services=[crash_flow])
