"""The pure core driven synchronously with hand-written journals."""

from __future__ import annotations

import pytest

from durable.protocol.errors import JournalMismatch, RemoteProtocolViolation
from durable.protocol.messages import (
    VOID,
    CallCommand,
    CompletionNotification,
    Failure,
    GetStateCommand,
    InputCommand,
    InvocationIdResult,
    OutputCommand,
    ProposeRunCompletionMessage,
    RunCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalNotification,
    SleepCommand,
    StartMessage,
    Value,
)
from reference_sdk._core import Combine, Leaf, Machine, PollOutcome
from reference_sdk._core.ids import decode_awakeable_id, encode_awakeable_id

from .journal import fix_indices, start


def machine(*entries: object, state: dict[str, object] | None = None) -> Machine:
    es = fix_indices([InputCommand(0, parameter=Value({"x": 1})), *entries])  # type: ignore[list-item]
    return Machine(start(len(es), state=state), es)


def test_fresh_invocation_records_commands_from_journal_length() -> None:
    m = machine()
    assert not m.is_replaying()
    m.set_state("a", Value(1))
    leaf, execute = m.run("step")
    assert execute and leaf == Leaf("completion", 1)
    m.propose_run(1, Value(True))
    out = m.take_messages()
    assert [type(x) for x in out] == [SetStateCommand, RunCommand, ProposeRunCompletionMessage]
    assert [x.index for x in out[:2]] == [1, 2]  # type: ignore[attr-defined]
    assert m.take_messages() == []


def test_replay_matches_and_returns_the_journal_version() -> None:
    m = machine(
        SetStateCommand(0, key="a", parameter=Value(1)),
        RunCommand(0, completion_id=1, name="step"),
        CompletionNotification(0, completion_id=1, result=Value(5)),
        SleepCommand(0, completion_id=2, wake_up_time_ms=1234),
    )
    m.set_state("a", Value(1))
    leaf, execute = m.run("step")
    assert not execute, "a run whose completion is in the journal must not execute again"
    assert m.poll(leaf) is PollOutcome.RESOLVED
    assert m.result_of(leaf) == Value(5)
    cmd, _ = m.sleep(9999)  # wake-up time differs: not a determinism field
    assert cmd.wake_up_time_ms == 1234
    m.output(Value("done"))
    out = m.take_messages()
    assert out == [OutputCommand(5, result=Value("done"))]


def _mismatch(fn: object) -> JournalMismatch:
    with pytest.raises(JournalMismatch) as ei:
        fn()  # type: ignore[operator]
    return ei.value


def test_mismatch_different_command_type() -> None:
    m = machine(RunCommand(0, completion_id=1, name="a"))
    err = _mismatch(lambda: m.set_state("k", Value(1)))
    assert err.code == 570 and err.command_index == 1
    assert "command type: expected 'run', actual 'set_state'" in err.message
    assert m.fatal is err
    with pytest.raises(JournalMismatch):
        m.clear_state("k")
    e = m.mismatch_error(err)
    assert (e.code, e.related_command_index, e.related_command_type) == (570, 1, "run")


def test_mismatch_different_run_name_shows_a_field_diff() -> None:
    m = machine(RunCommand(0, completion_id=1, name="create"))
    err = _mismatch(lambda: m.run("activate"))
    assert 'field name: expected "create", actual "activate"' in err.message
    assert err.expected == {"type": "run", "completion_id": 1, "name": "create"}


def test_mismatch_different_call_target() -> None:
    m = machine(CallCommand(0, completion_id=2, invocation_id_completion_id=1, service="A", handler="h", parameter=VOID))
    err = _mismatch(lambda: m.call("B", "h", VOID))
    assert 'field service: expected "A", actual "B"' in err.message


def test_mismatch_different_state_key() -> None:
    m = machine(GetStateCommand(0, key="a", result=VOID))
    err = _mismatch(lambda: m.get_state("b"))
    assert 'field key: expected "a", actual "b"' in err.message


def test_mismatch_different_parameter() -> None:
    m = machine(SetStateCommand(0, key="a", parameter=Value(1)))
    err = _mismatch(lambda: m.set_state("a", Value(2)))
    assert "parameter" in err.message


def test_extra_commands_in_the_journal_when_the_handler_returns() -> None:
    m = machine(SetStateCommand(0, key="a", parameter=Value(1)), SetStateCommand(0, key="b", parameter=Value(2)))
    m.set_state("a", Value(1))
    err = _mismatch(lambda: m.output(Value(None)))
    assert err.command_index == 2
    assert "command type: expected 'set_state', actual 'output'" in err.message


def test_handler_waiting_while_the_journal_has_more_commands() -> None:
    m = machine(SleepCommand(0, completion_id=1, wake_up_time_ms=1), SetStateCommand(0, key="a", parameter=Value(1)))
    _cmd, leaf = m.sleep(5)
    assert m.poll(leaf) is PollOutcome.PENDING
    err = _mismatch(lambda: m.suspension([leaf]))
    assert "did not replay" in err.message and err.command_index == 2


def test_output_matching_a_recorded_output_is_fine() -> None:
    m = machine(OutputCommand(0, result=Value(1)))
    m.output(Value(1))
    assert m.finished and m.take_messages() == []


def test_run_executes_only_without_a_notification_anywhere() -> None:
    m = machine(RunCommand(0, completion_id=1, name="a"), RunCommand(0, completion_id=2, name="b"),
                CompletionNotification(0, completion_id=2, result=Value(2)))
    assert m.run("a")[1] is True
    assert m.run("b")[1] is False
    m.propose_run(1, Value(1))
    m.propose_run(1, Value(1))  # proposing twice is ignored
    assert m.take_messages() == [ProposeRunCompletionMessage(completion_id=1, result=Value(1))]


def test_suspension_awaits_the_tree_and_the_cancel_signal() -> None:
    m = machine()
    _c, sleep = m.sleep(10)
    run, _ = m.run("a")
    _awk_id, sig = m.awakeable()
    assert sig == Leaf("signal", 17)
    s = m.suspension([Combine("all_completed", (sleep, run, sig))])
    assert s.to_json()["awaiting"] == {
        "combinator": "first_completed",
        "signal_ids": [1],
        "nested": [{"combinator": "all_completed", "completion_ids": [1, 2], "signal_ids": [17]}],
    }
    assert m.suspension([sleep]).awaiting.to_json() == {
        "combinator": "first_completed",
        "completion_ids": [1],
        "signal_ids": [1],
    }


def test_eager_state_reads_writes_and_keys() -> None:
    m = machine(state={"b": 2, "a": 1})
    assert m.get_state("a") == Value(1)
    assert m.get_state("zz") == VOID
    m.set_state("c", Value(3))
    assert m.get_state("c") == Value(3)
    m.clear_state("a")
    assert m.get_state_keys() == ("b", "c")
    m.clear_all_state()
    assert m.get_state("b") == VOID
    cmds = m.take_messages()
    assert isinstance(cmds[0], GetStateCommand) and cmds[0].result == Value(1)


def test_replayed_state_read_uses_the_journal_value() -> None:
    m = machine(GetStateCommand(0, key="a", result=Value("old")), state={"a": "new"})
    assert m.get_state("a") == Value("old")


def test_delivery_waits_for_the_handler_to_block_and_stops_at_the_next_command() -> None:
    m = machine(
        SleepCommand(0, completion_id=1, wake_up_time_ms=1),
        SetStateCommand(0, key="a", parameter=Value(1)),
        CompletionNotification(0, completion_id=1, result=VOID),
    )
    _c, leaf = m.sleep(1)
    assert not m.is_resolved(leaf)
    assert m.poll(leaf) is PollOutcome.PENDING  # the completion sits after set_state
    m.set_state("a", Value(1))
    assert not m.is_resolved(leaf), "not delivered until the handler blocks again"
    assert m.poll(leaf) is PollOutcome.RESOLVED


def test_delivery_is_one_at_a_time_until_the_tree_resolves() -> None:
    m = machine(
        SleepCommand(0, completion_id=1, wake_up_time_ms=1),
        SleepCommand(0, completion_id=2, wake_up_time_ms=1),
        CompletionNotification(0, completion_id=2, result=VOID),
        CompletionNotification(0, completion_id=1, result=VOID),
        SignalNotification(0, signal_id=1, result=VOID),
    )
    _c, a = m.sleep(1)
    _c, b = m.sleep(1)
    assert m.poll(Combine("first_completed", (a, b))) is PollOutcome.RESOLVED
    assert m.is_resolved(b) and not m.is_resolved(a), "only what was needed is delivered"
    assert m.poll(a) is PollOutcome.RESOLVED
    assert m.poll(Leaf("signal", 17)) is PollOutcome.CANCELLED


def test_select_order_is_the_journal_order_of_completions() -> None:
    m = machine(
        RunCommand(0, completion_id=1, name="a"),
        RunCommand(0, completion_id=2, name="b"),
        CompletionNotification(0, completion_id=2, result=Value("b")),
        CompletionNotification(0, completion_id=1, result=Value("a")),
    )
    a, _ = m.run("a")
    b, _ = m.run("b")
    assert m.poll(Combine("first_completed", (a, b))) is PollOutcome.RESOLVED
    assert m.resolved_index(b) == 3 and m.resolved_index(a) is None
    assert m.poll(a) is PollOutcome.RESOLVED and m.resolved_index(a) == 4


def test_combinators() -> None:
    m = machine(
        RunCommand(0, completion_id=1, name="a"),
        RunCommand(0, completion_id=2, name="b"),
        CompletionNotification(0, completion_id=1, result=Failure(500, "x")),
    )
    a, _ = m.run("a")
    b, _ = m.run("b")
    assert m.poll(a) is PollOutcome.RESOLVED
    assert m.is_resolved(Combine("first_completed", (a, b)))
    assert not m.is_resolved(Combine("all_completed", (a, b)))
    assert not m.is_resolved(Combine("first_succeeded_or_all_failed", (a, b)))
    assert m.is_resolved(Combine("all_succeeded_or_first_failed", (a, b)))


def test_cancel_is_raised_once_and_forwarded_to_child_calls_first() -> None:
    m = machine(
        CallCommand(0, completion_id=2, invocation_id_completion_id=1, service="A", handler="h", parameter=VOID),
        CompletionNotification(0, completion_id=1, result=InvocationIdResult("inv_child")),
        SignalNotification(0, signal_id=1, result=VOID),
    )
    h = m.call("A", "h", VOID)
    assert m.poll(h.result) is PollOutcome.CANCELLED
    assert m.child_ids_pending() is None
    m.forward_cancel()
    assert m.take_messages() == [SendSignalCommand(4, target_invocation_id="inv_child", signal_id=1)]
    assert m.poll(h.result) is PollOutcome.PENDING
    assert m.suspension([h.result]).awaiting.signal_ids == ()


def test_cancel_forwarding_replays_deterministically() -> None:
    m = machine(
        CallCommand(0, completion_id=2, invocation_id_completion_id=1, service="A", handler="h", parameter=VOID),
        CompletionNotification(0, completion_id=1, result=InvocationIdResult("inv_child")),
        SignalNotification(0, signal_id=1, result=VOID),
        SendSignalCommand(0, target_invocation_id="inv_child", signal_id=1),
    )
    h = m.call("A", "h", VOID)
    assert m.poll(h.result) is PollOutcome.CANCELLED
    m.forward_cancel()
    assert m.take_messages() == []


def test_cancel_waits_for_unknown_child_ids() -> None:
    m = machine(
        CallCommand(0, completion_id=2, invocation_id_completion_id=1, service="A", handler="h", parameter=VOID),
        SignalNotification(0, signal_id=1, result=VOID),
        CompletionNotification(0, completion_id=1, result=InvocationIdResult("inv_late")),
    )
    h = m.call("A", "h", VOID)
    assert m.poll(h.result) is PollOutcome.CANCELLED
    pending = m.child_ids_pending()
    assert pending == h.invocation_id
    assert m.poll(pending) is PollOutcome.RESOLVED
    m.forward_cancel()
    assert m.take_messages() == [SendSignalCommand(4, target_invocation_id="inv_late", signal_id=1)]


def test_awakeable_ids_round_trip() -> None:
    awk = encode_awakeable_id("inv_abc", 17)
    assert awk.startswith("awk_") and "=" not in awk
    assert decode_awakeable_id(awk) == ("inv_abc", 17)
    import base64

    assert base64.urlsafe_b64decode(awk[4:] + "==") == b'["inv_abc",17]'
    m = machine()
    assert m.awakeable()[0] == encode_awakeable_id("inv_1", 17)
    assert m.awakeable()[1] == Leaf("signal", 18)


def test_signal_results_are_delivered_by_signal_id() -> None:
    m = machine(SignalNotification(0, signal_id=17, result=Value("hi")))
    _id, leaf = m.awakeable()
    assert m.poll(leaf) is PollOutcome.RESOLVED and m.result_of(leaf) == Value("hi")


def test_warm_resume_checks_the_length_and_takes_only_notifications() -> None:
    m = machine()
    _c, leaf = m.sleep(5)
    m.take_messages()
    assert m.known_length == 2
    bad = StartMessage(invocation_id="inv_1", attempt_id="a2", journal_length=4, resume_from=3, resume_attempt_id="a1")
    assert not m.resume(bad, [])
    ok = StartMessage(invocation_id="inv_1", attempt_id="a2", journal_length=3, resume_from=2, resume_attempt_id="a1")
    assert m.resume(ok, [CompletionNotification(2, completion_id=1, result=VOID)])
    assert m.poll(leaf) is PollOutcome.RESOLVED
    with pytest.raises(RemoteProtocolViolation):
        m.resume(
            StartMessage(invocation_id="inv_1", attempt_id="a3", journal_length=4, resume_from=3, resume_attempt_id="a2"),
            [SetStateCommand(3, key="x", parameter=Value(1))],
        )


def test_journal_must_start_with_input_and_be_contiguous() -> None:
    with pytest.raises(RemoteProtocolViolation):
        Machine(start(1), [SetStateCommand(0, key="a", parameter=Value(1))])
    with pytest.raises(RemoteProtocolViolation):
        Machine(start(2), [InputCommand(0), SetStateCommand(5, key="a", parameter=Value(1))])
    with pytest.raises(RemoteProtocolViolation):
        Machine(start(3), [InputCommand(0)])


def test_suspension_names_only_leaves_without_a_result() -> None:
    m = machine(
        SleepCommand(0, completion_id=1, wake_up_time_ms=1),
        SleepCommand(0, completion_id=2, wake_up_time_ms=1),
        SleepCommand(0, completion_id=3, wake_up_time_ms=1),
        CompletionNotification(0, completion_id=2, result=VOID),
    )
    leaves = [m.sleep(1)[1] for _ in range(3)]
    gather = Combine("all_completed", tuple(leaves))
    assert m.poll(gather) is PollOutcome.PENDING
    assert m.suspension([gather]).awaiting.to_json() == {
        "combinator": "first_completed",
        "signal_ids": [1],
        "nested": [{"combinator": "all_completed", "completion_ids": [1, 3]}],
    }
