"""Side effects of the bench workflows, shared by both SDK apps.

They mirror the seed's ``examples/utils.py`` helpers used by SignupWorkflow, minus the
``print`` (a benchmark should measure the engines, not the log file) and minus the simulated
"Alice" failures (no bench key is Alice). ``chunk`` builds the large journal of the resume test.
"""

from __future__ import annotations

from pydantic import BaseModel


class User(BaseModel):
    name: str
    email: str


class BigJournal(BaseModel):
    steps: int
    size: int


def create_user(user_id: str, user: User) -> bool:
    return bool(user_id) and bool(user.email)


def activate_user(user_id: str) -> None:
    return None


def send_welcome_email(user: User) -> None:
    return None


def step(i: int) -> int:
    return i


def chunk(i: int, size: int) -> str:
    return (str(i % 10) * size)[:size]
