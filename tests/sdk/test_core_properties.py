"""Property tests: a program executed live, then replayed from its journal, agrees with itself;
changing any one step of the program is reported as a mismatch at exactly that step."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable.protocol.errors import JournalMismatch
from durable.protocol.messages import (
    VOID,
    Command,
    CompletionNotification,
    Entry,
    InputCommand,
    ProposeRunCompletionMessage,
    StartMessage,
    Value,
)
from reference_sdk._core import Machine, PollOutcome

from .journal import start

KEYS = st.sampled_from(["a", "b", "c"])
Op = tuple[str, Any]
OPS = st.one_of(
    st.tuples(st.just("set"), st.tuples(KEYS, st.integers(0, 9))),
    st.tuples(st.just("get"), KEYS),
    st.tuples(st.just("clear"), KEYS),
    st.tuples(st.just("keys"), st.none()),
    st.tuples(st.just("run"), st.tuples(st.sampled_from(["x", "y"]), st.integers(0, 9))),
    st.tuples(st.just("sleep"), st.sampled_from(["t1", "t2"])),
)


def execute(m: Machine, ops: list[Op], journal: list[Entry] | None) -> list[Any]:
    """Run ``ops`` against ``m``; with ``journal`` given, play the server for new commands."""
    seen: list[Any] = []
    attempt = 1
    for kind, arg in ops:
        if kind == "set":
            m.set_state(arg[0], Value(arg[1]))
        elif kind == "get":
            seen.append(m.get_state(arg))
        elif kind == "clear":
            m.clear_state(arg)
        elif kind == "keys":
            seen.append(m.get_state_keys())
        else:
            if kind == "run":
                leaf, must_run = m.run(arg[0])
                if must_run:
                    m.propose_run(leaf.id, Value(arg[1]))
            else:
                _cmd, leaf = m.sleep(1000, arg)
            if m.poll(leaf) is PollOutcome.PENDING:
                assert journal is not None, "replay must not block"
                out = m.take_messages()
                journal.extend(x for x in out if isinstance(x, Command))
                known = len(journal)
                result = next((p.result for p in out if isinstance(p, ProposeRunCompletionMessage)), VOID)
                note = CompletionNotification(known, completion_id=leaf.id, result=result)
                journal.append(note)
                s = StartMessage(
                    invocation_id="inv_1", attempt_id=f"a{attempt + 1}", journal_length=len(journal),
                    resume_from=known, resume_attempt_id=f"a{attempt}",
                )
                attempt += 1
                assert m.resume(s, [note])
                assert m.poll(leaf) is PollOutcome.RESOLVED
            seen.append(m.result_of(leaf))
    m.output(Value(None))
    if journal is not None:
        journal.extend(x for x in m.take_messages() if isinstance(x, Command))
    return seen


def live(ops: list[Op]) -> tuple[list[Entry], list[Any]]:
    journal: list[Entry] = [InputCommand(0, parameter=VOID)]
    m = Machine(start(1), list(journal))
    seen = execute(m, ops, journal)
    return journal, seen


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, max_size=12))
def test_replay_of_a_live_journal_is_silent_and_sees_the_same_values(ops: list[Op]) -> None:
    journal, seen = live(ops)
    m = Machine(start(len(journal)), journal)
    assert execute(m, ops, None) == seen
    assert m.take_messages() == [], "a full replay must not produce new commands or proposals"


def _mutate(op: Op) -> Op | None:
    kind, arg = op
    if kind == "set":
        return ("set", (arg[0] + "z", arg[1]))
    if kind in ("get", "clear"):
        return (kind, arg + "z")
    if kind == "run":
        return ("run", (arg[0] + "z", arg[1]))
    if kind == "sleep":
        return ("set", ("q", 1))
    return None


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=10), st.data())
def test_changing_one_step_is_a_mismatch_at_that_step(ops: list[Op], data: st.DataObject) -> None:
    journal, _ = live(ops)
    i = data.draw(st.integers(0, len(ops) - 1))
    changed = _mutate(ops[i])
    if changed is None:
        return
    mutated = [*ops[:i], changed, *ops[i + 1 :]]
    m = Machine(start(len(journal)), journal)
    commands = [e for e in journal if isinstance(e, Command)]
    expected_index = commands[i + 1].index  # +1: the input command
    try:
        execute(m, mutated, None)
    except JournalMismatch as exc:
        assert exc.code == 570
        assert exc.command_index == expected_index
        return
    raise AssertionError("the mutation was not detected")


def test_reindexed_helpers_are_stable() -> None:
    j, _ = live([("set", ("a", 1)), ("run", ("x", 2))])
    assert [e.index for e in j] == list(range(len(j)))
    assert replace(j[1], index=1) == j[1]


def observe(
    m: Machine, n: int, batches: list[list[int]] | None, journal: list[Entry] | None, write: bool
) -> list[tuple[int, ...]]:
    """Wait repeatedly on the sleeps not seen yet; record what is resolved after each wait and,
    with ``write``, store it in state (a command between the waits)."""
    from reference_sdk._core import Combine

    leaves = [m.sleep(1000 + i)[1] for i in range(n)]
    seen: list[tuple[int, ...]] = []
    attempt = 1
    pending = list(range(n))
    while pending:
        tree = Combine("first_completed", tuple(leaves[i] for i in pending))
        while m.poll(tree) is PollOutcome.PENDING:
            assert batches is not None and journal is not None, "replay must not block"
            journal.extend(x for x in m.take_messages() if isinstance(x, Command))
            known = len(journal)
            batch = batches.pop(0)
            notes = [CompletionNotification(known + k, completion_id=leaves[i].id, result=VOID) for k, i in enumerate(batch)]
            journal.extend(notes)
            s = StartMessage(invocation_id="inv_1", attempt_id=f"a{attempt + 1}", journal_length=len(journal),
                             resume_from=known, resume_attempt_id=f"a{attempt}")
            attempt += 1
            assert m.resume(s, notes)
        done = tuple(i for i in pending if m.is_resolved(leaves[i]))
        seen.append(done)
        if write:
            m.set_state("seen", Value(list(done)))
        pending = [i for i in pending if i not in done]
    m.output(Value(None))
    if journal is not None:
        journal.extend(x for x in m.take_messages() if isinstance(x, Command))
    return seen


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(st.just(n), st.permutations(range(n)), st.lists(st.integers(1, 3), min_size=n, max_size=n))
    ),
    st.booleans(),
)
def test_live_and_replay_observe_the_same_completions_whatever_the_batching(
    case: tuple[int, list[int], list[int]], write: bool
) -> None:
    n, order, sizes = case
    batches: list[list[int]] = []
    rest = list(order)
    for size in sizes:
        if rest:
            batches.append(rest[:size])
            rest = rest[size:]
    journal: list[Entry] = [InputCommand(0, parameter=VOID)]
    live_seen = observe(Machine(start(1), list(journal)), n, batches, journal, write)
    replay = Machine(start(len(journal)), journal)
    assert observe(replay, n, None, None, write) == live_seen
    assert replay.take_messages() == []
