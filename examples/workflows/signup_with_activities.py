"""In-line Steps vs. Separate Activities: user creation delegated to UserService."""

import reference_sdk as restate
from examples.utils import (
    CreateUserRequest,
    User,
    activate_user,
    create_user_handler,
    send_welcome_email,
)
from reference_sdk import WorkflowContext

signup_with_activities = restate.Workflow("SignupWithActivitiesWorkflow")


@signup_with_activities.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()

    # Move user DB interaction to dedicated service
    success = await ctx.service_call(
        create_user_handler, arg=CreateUserRequest(user_id=user_id, user=user)
    )
    if not success:
        return False

    # Execute other steps inline
    await ctx.run_typed("activate", activate_user, user_id=user_id)
    await ctx.run_typed("welcome", send_welcome_email, user=user)
    return True
