"""The bench workflows on our SDK (``reference_sdk``).

Same code as ``restate_app.py`` with only the SDK import changed, so the two stacks run the
same handlers. Serve: ``hypercorn benchmarks.services.reference_app:app --workers 1``.
"""

import reference_sdk as restate
from benchmarks.services.steps import (
    BigJournal,
    User,
    activate_user,
    chunk,
    create_user,
    send_welcome_email,
    step,
)
from reference_sdk import WorkflowContext, WorkflowSharedContext

# ---- the workflow code: identical in reference_app.py and restate_app.py below this line ----

signup_workflow = restate.Workflow("SignupWorkflow")


@signup_workflow.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    """The seed's SignupWorkflow: three ``ctx.run`` steps."""
    user_id = ctx.key()  # workflow ID = user ID

    # Write to database
    success: bool = await ctx.run_typed("create", create_user, user_id=user_id, user=user)
    if not success:
        return False

    # Call APIs
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    await ctx.run_typed("welcome", send_welcome_email, user=user)
    return True


steps_workflow = restate.Workflow("StepsWorkflow")


@steps_workflow.main(name="run")
async def steps(ctx: WorkflowContext, n: int) -> int:
    """``n`` sequential ``ctx.run`` steps (step scaling: per-step cost at 10, 100, 1,000)."""
    total = 0
    for i in range(n):
        total += await ctx.run_typed("step", step, i=i)
    return total


big_journal = restate.Workflow("BigJournalWorkflow")


@big_journal.main(name="run")
async def build(ctx: WorkflowContext, req: BigJournal) -> int:
    """Grow the journal to ``steps * size`` bytes of run results, then wait for ``release``."""
    total = 0
    for i in range(req.steps):
        total += len(await ctx.run_typed("chunk", chunk, i=i, size=req.size))
    await ctx.promise("ready", type_hint=int).resolve(total)
    go = await ctx.promise("go", type_hint=str).value()
    return total + len(go)


@big_journal.handler("waitReady")
async def wait_ready(ctx: WorkflowSharedContext) -> int:
    """Returns once the journal is built (the client then measures the resume)."""
    return await ctx.promise("ready", type_hint=int).value()


@big_journal.handler("release")
async def release(ctx: WorkflowSharedContext) -> None:
    """Resolve the promise the suspended main handler waits for."""
    await ctx.promise("go", type_hint=str).resolve("go")


app = restate.app(services=[signup_workflow, steps_workflow, big_journal])
