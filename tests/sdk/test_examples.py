"""The tour's examples on the fake server: the seed's documented behaviours, warm and replayed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from durable.protocol.messages import (
    VOID,
    CallCommand,
    CompletePromiseCommand,
    CompletionNotification,
    Entry,
    Failure,
    GetPromiseCommand,
    RunCommand,
    SleepCommand,
    SuspensionMessage,
    Value,
)
from examples.tour import app, services

from .fakeserver import FakeServer, Invocation, complete_timers_and_ids, output_of

WARM = pytest.mark.parametrize("warm", [True, False], ids=["warm", "replay"])
JOHN = {"name": "John Doe", "email": "john@mail.com"}
ALICE = {"name": "Alice", "email": "alice@mail.com"}


def go(service: str, handler: str, arg: Any, key: str, *, warm: bool = True, respond: Any = complete_timers_and_ids,
       state: dict[str, Any] | None = None, max_attempts: int = 20) -> Invocation:
    server = FakeServer(app, warm=warm, max_attempts=max_attempts)
    coro = server.run(service, handler, Value(arg) if arg is not None else VOID, key=key, respond=respond, state=state)
    return asyncio.run(asyncio.wait_for(coro, 30))


def run_names(inv: Invocation) -> list[str | None]:
    return [c.name for c in inv.commands() if isinstance(c, RunCommand)]


def test_every_seed_workflow_is_served() -> None:
    names = {s.name: sorted(s.handlers) for s in services}
    assert names == {
        "SignupWorkflow": ["run"],
        "SignupWithActivitiesWorkflow": ["run"],
        "SignupWithEventsWorkflow": ["run", "waitForUserCreation"],
        "SignupWithQueriesWorkflow": ["getStatus", "run"],
        "SignupWithRetriesWorkflow": ["run"],
        "SignupWithSagasWorkflow": ["run"],
        "SignupWithSignalsWorkflow": ["run", "verifyEmail"],
        "SignupWithTimersWorkflow": ["run", "verifyEmail"],
        "UserService": ["create_user_handler"],
    }


@WARM
def test_signup_workflow(warm: bool, capsys: pytest.CaptureFixture[str]) -> None:
    inv = go("SignupWorkflow", "run", JOHN, "johndoe", warm=warm)
    assert output_of(inv).result == Value(True)
    assert run_names(inv) == ["create", "activate", "welcome"]
    out = capsys.readouterr().out
    assert out.count("User entry created in DB: johndoe") == 1, "an acknowledged step ran twice"


def test_alice_keeps_retrying_with_the_simulated_failure() -> None:
    with pytest.raises(AssertionError, match="SIMULATED"):
        go("SignupWorkflow", "run", ALICE, "alicedoe", max_attempts=6)


def test_the_seed_fix_line_is_where_the_tour_says() -> None:
    from pathlib import Path

    import examples.utils as utils

    src = Path(utils.__file__).read_text()
    assert re.search(r"\n(\s*)fail_on_alice\(user\.name, \"send welcome email\"\)\n", src)


@WARM
def test_activities_call_user_service(warm: bool) -> None:
    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        out = complete_timers_and_ids(inv, s) or []
        cids, _ = s.awaiting.leaves()
        for c in inv.commands():
            if isinstance(c, CallCommand) and c.completion_id in cids:
                assert (c.service, c.handler) == ("UserService", "create_user_handler")
                assert c.parameter == Value({"userId": "carl", "user": {"name": "Carl", "email": "carl@mail.com"}})
                out.append(CompletionNotification(0, completion_id=c.completion_id, result=Value(True)))
        return out

    inv = go("SignupWithActivitiesWorkflow", "run", {"name": "Carl", "email": "carl@mail.com"}, "carl",
             warm=warm, respond=respond)
    assert output_of(inv).result == Value(True)
    callee = go("UserService", "create_user_handler", {"userId": "carl", "user": {"name": "Carl", "email": "c"}}, "")
    assert output_of(callee).result == Value(True)


@WARM
def test_queries(warm: bool) -> None:
    inv = go("SignupWithQueriesWorkflow", "run", {"name": "Jane Doe", "email": "jane@mail.com"}, "janedoe", warm=warm)
    assert output_of(inv).result == Value(True)
    assert inv.state == {"user": {"name": "Jane Doe", "email": "jane@mail.com"}, "status": "created"}
    status = go("SignupWithQueriesWorkflow", "getStatus", None, "janedoe", state=inv.state)
    assert output_of(status).result == Value({"status": "created", "user": {"name": "Jane Doe", "email": "jane@mail.com"}})


def _secret_from(out: str, workflow: str, key: str) -> str:
    m = re.findall(rf"curl localhost:8080/restate/call/{workflow}/{key}/verifyEmail --json '\{{\"secret\": \"([^\"]+)\"\}}'", out)
    assert m, out
    return m[-1]


@WARM
def test_signals(warm: bool, capsys: pytest.CaptureFixture[str]) -> None:
    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        cids, _ = s.awaiting.leaves()
        gp = [c for c in inv.commands() if isinstance(c, GetPromiseCommand) and c.completion_id in cids]
        if not gp:
            return None
        secret = _secret_from(capsys.readouterr().out, "SignupWithSignalsWorkflow", "johndoe")
        return [CompletionNotification(0, completion_id=gp[0].completion_id, result=Value(secret))]

    inv = go("SignupWithSignalsWorkflow", "run", JOHN, "johndoe", warm=warm, respond=respond)
    assert output_of(inv).result == Value(True)
    v = go("SignupWithSignalsWorkflow", "verifyEmail", {"secret": "s3"}, "johndoe",
           respond=lambda inv, s: [CompletionNotification(0, completion_id=1, result=VOID)])
    cp = [c for c in v.commands() if isinstance(c, CompletePromiseCommand)]
    assert cp[0].key == "email-verified" and cp[0].result == Value("s3")
    assert output_of(v).result == VOID


def test_events() -> None:
    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        cids, _ = s.awaiting.leaves()
        return [CompletionNotification(0, completion_id=c, result=VOID) for c in sorted(cids)]

    inv = go("SignupWithEventsWorkflow", "run", JOHN, "johndoe", respond=respond)
    assert output_of(inv).result == Value(True)
    cp = [c for c in inv.commands() if isinstance(c, CompletePromiseCommand)]
    assert (cp[0].key, cp[0].result) == ("user-created", Value("User created."))
    wait = go("SignupWithEventsWorkflow", "waitForUserCreation", None, "johndoe",
              respond=lambda inv, s: [CompletionNotification(0, completion_id=1, result=Value("User created."))])
    assert output_of(wait).result == Value("User created.")


@WARM
def test_timers_remind_until_verified(warm: bool, capsys: pytest.CaptureFixture[str]) -> None:
    fired = {"n": 0}
    log: list[str] = []

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        log.append(capsys.readouterr().out)
        cids, _ = s.awaiting.leaves()
        sleeps = [c for c in inv.commands() if isinstance(c, SleepCommand) and c.completion_id in cids]
        day = sleeps[0]
        reminders = sleeps[1:]
        assert all(r.wake_up_time_ms < day.wake_up_time_ms - 3600_000 for r in reminders)
        if fired["n"] < 2 and reminders:
            fired["n"] += 1
            return [CompletionNotification(0, completion_id=reminders[-1].completion_id, result=VOID)]
        gp = [c for c in inv.commands() if isinstance(c, GetPromiseCommand) and c.completion_id in cids]
        secret = _secret_from("".join(log), "SignupWithTimersWorkflow", "johndoe")
        return [CompletionNotification(0, completion_id=gp[-1].completion_id, result=Value(secret))]

    inv = go("SignupWithTimersWorkflow", "run", JOHN, "johndoe", warm=warm, respond=respond)
    assert output_of(inv).result == Value(True)
    assert run_names(inv) == ["verify", "remind", "remind"]
    out = "".join(log) + capsys.readouterr().out
    assert out.count("Reminder email sent: john@mail.com") == 2
    assert len(set(re.findall(r"SignupWithTimersWorkflow/johndoe/verifyEmail --json '([^']*)'", out))) == 1
    sleeps = [c for c in inv.commands() if isinstance(c, SleepCommand)]
    assert abs(sleeps[0].wake_up_time_ms - sleeps[1].wake_up_time_ms - (86_400_000 - 15_000)) < 1000


def test_timers_time_out_after_a_day() -> None:
    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        first = next(c for c in inv.commands() if isinstance(c, SleepCommand))
        return [CompletionNotification(0, completion_id=first.completion_id, result=VOID)]

    inv = go("SignupWithTimersWorkflow", "run", JOHN, "k", respond=respond)
    assert output_of(inv).result == Failure(500, "Email verification timed out after 24 hours")


@WARM
def test_retries_exhaust_then_continue(warm: bool, capsys: pytest.CaptureFixture[str]) -> None:
    inv = go("SignupWithRetriesWorkflow", "run", ALICE, "alice", warm=warm)
    assert output_of(inv).result == Value(True)
    assert len(inv.errors) == 2 and all("SIMULATED" in e.message for e in inv.errors)
    out = capsys.readouterr().out
    assert sum(line.startswith("[👻 SIMULATED] Failed to send welcome email") for line in out.splitlines()) == 3
    assert "Failed to send welcome email after retries" in out


@WARM
def test_sagas_compensate_in_reverse_order(warm: bool) -> None:
    inv = go("SignupWithSagasWorkflow", "run", ALICE, "alice", warm=warm)
    assert output_of(inv).result == Value(False)
    assert run_names(inv) == ["create", "activate", "subscribe", "unsubscribe", "deactivate", "delete"]
    failure = [e.result for e in inv.journal if isinstance(e, CompletionNotification) and isinstance(e.result, Failure)]
    assert failure and "not available in this country" in failure[0].message  # type: ignore[union-attr]


def test_cancelling_a_waiting_signals_workflow() -> None:
    from durable.protocol.messages import SignalNotification

    def respond(inv: Invocation, s: SuspensionMessage) -> list[Entry] | None:
        if any(isinstance(e, SignalNotification) for e in inv.journal):
            return None
        return [SignalNotification(0, signal_id=1, result=VOID)]

    inv = go("SignupWithSignalsWorkflow", "run", {"name": "Eve", "email": "eve@mail.com"}, "eve", respond=respond)
    assert output_of(inv).result == Failure(409, "cancelled")

