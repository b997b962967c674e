"""A saga whose rollback takes a while (a durable sleep after each compensation), so a test can
crash the server in the middle of it. Every step appends a line to a ledger file outside the
system under test."""

from __future__ import annotations

from datetime import timedelta

import reference_sdk as restate
from reference_sdk import WorkflowContext
from reference_sdk.exceptions import TerminalError

crash_saga = restate.Workflow("CrashSaga")


def record(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def subscribe() -> None:
    raise TerminalError("not available in this country")


@crash_saga.main()
async def run(ctx: WorkflowContext, ledger: str) -> bool:
    compensations: list[str] = []
    try:
        for step in ("create", "activate"):
            compensations.append(step)
            await ctx.run_typed(f"do {step}", record, path=ledger, line=f"do {step}")
        await ctx.run_typed("subscribe", subscribe)
    except TerminalError:
        for step in reversed(compensations):
            await ctx.run_typed(f"undo {step}", record, path=ledger, line=f"undo {step}")
            await ctx.sleep(timedelta(milliseconds=1500))
        return False
    return True


app = restate.app(services=[crash_saga])
