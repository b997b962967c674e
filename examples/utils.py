"""The tour's shared helpers (the seed's ``app/utils.py``): models, simulated side effects, services.

Side effects print what they would do. Two simulated failures drive the tour: sending the
welcome email to "Alice" fails with a plain (retryable) exception until the ``fail_on_alice``
line is removed, and subscribing Alice to the paid plan fails terminally (the saga rolls back).
Verification and reminder emails print the curl command that completes the verification, for
the workflow that sent them.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel as camelize

import reference_sdk as restate
from reference_sdk import TerminalError


class User(BaseModel):
    name: str
    email: str


def fail_on_alice(name: str, action: str) -> None:
    if name == "Alice":
        print(f"[👻 SIMULATED] Failed to {action} for {name}")
        raise Exception(f"[👻 SIMULATED] Failed to {action} for {name}")


def terminal_error_on_alice(name: str, action: str) -> None:
    if name == "Alice":
        print(f"[👻 SIMULATED] Failed to {action} for {name}: not available in this country")
        raise TerminalError(
            f"[👻 SIMULATED] Failed to {action} for {name}: not available in this country"
        )


# <start_here>
def send_welcome_email(user: User):
    fail_on_alice(user.name, "send welcome email")
    print(f"Welcome email sent: {user.email}")


# <end_here>


def create_user(user_id: str, user: User) -> bool:
    print(f"User entry created in DB: {user_id}")
    return True


def delete_user(user_id: str) -> bool:
    print(f"User entry deleted in DB: {user_id}")
    return True


def _verify_command(user_id: str, verification_secret: str) -> str:
    current = restate.current_invocation()
    workflow = current.service if current is not None else "SignupWithSignalsWorkflow"
    return (
        f"curl localhost:8080/restate/call/{workflow}/{user_id}/verifyEmail "
        f"--json '{{\"secret\": \"{verification_secret}\"}}'"
    )


def send_verification_email(user_id: str, user: User, verification_secret: str) -> None:
    print(f"Verification email sent: {user.email} (to verify, run the command below)")
    print(_verify_command(user_id, verification_secret))


def send_reminder_email(user_id: str, user: User, verification_secret: str) -> None:
    print(f"Reminder email sent: {user.email} (to verify, run the command below)")
    print(_verify_command(user_id, verification_secret))


def activate_user(user_id: str) -> None:
    print(f"User account activated: {user_id}")


def deactivate_user(user_id: str) -> None:
    print(f"User account deactivated: {user_id}")


def subscribe_to_paid_plan(user: User) -> bool:
    terminal_error_on_alice(user.name, "subscribe to paid plan")
    print(f"User subscribed to paid plan: {user.name}")
    return True


def cancel_subscription(user: User) -> bool:
    print(f"User subscription cancelled: {user.name}")
    return True


class CreateUserRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=camelize)
    user_id: str
    user: User


class VerifyEmailRequest(BaseModel):
    secret: str


class StatusResponse(BaseModel):
    status: str | None
    user: dict[str, Any] | None


user_service = restate.Service("UserService")


@user_service.handler()
async def create_user_handler(ctx: restate.Context, req: CreateUserRequest) -> bool:
    return await ctx.run_typed("create_user", create_user, user_id=req.user_id, user=req.user)
