"""A test-only workflow for the browser tests: the tour's timers pattern, faster, with state
and a compensation on cancel.

Why not the tour's ``SignupWithTimersWorkflow``: its reminders come every 15 s and it keeps no
state and has nothing to compensate, while the UI must show a running timers workflow with its
reminders *and* its state, and a cancel from the browser must visibly run the compensation.
"""

from __future__ import annotations

from datetime import timedelta

import reference_sdk as restate
from examples.tour import services as tour_services
from reference_sdk import WorkflowContext
from reference_sdk.exceptions import TerminalError

reminder_workflow = restate.Workflow("UiReminderWorkflow")


def _create_account(user_id: str) -> str:
    return f"account-{user_id}"


def _send_reminder(user_id: str, n: int) -> str:
    return f"reminder {n} sent to {user_id}"


def _delete_account(user_id: str) -> bool:
    return True


@reminder_workflow.main()
async def run(ctx: WorkflowContext, user: dict[str, str]) -> bool:
    user_id = ctx.key()
    ctx.set("status", "signing up")
    await ctx.run_typed("create account", _create_account, user_id=user_id)
    verified = ctx.promise("email-verified", type_hint=str)
    sent = 0
    try:
        while True:
            ctx.set("status", "waiting for verification")
            match await restate.select(verification=verified.value(), reminder=ctx.sleep(timedelta(seconds=1))):
                case ["verification", _]:
                    ctx.set("status", "verified")
                    return True
                case ["reminder", _]:
                    sent += 1
                    await ctx.run_typed("remind", _send_reminder, user_id=user_id, n=sent)
                    ctx.set("reminders", sent)
    except TerminalError:
        # cancelled: undo what was done, then fail as cancelled
        await ctx.run_typed("compensate: delete account", _delete_account, user_id=user_id)
        ctx.set("status", "cancelled, account deleted")
        raise


app = restate.app(services=[*tour_services, reminder_workflow])
