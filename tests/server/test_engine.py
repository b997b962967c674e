"""Unit tests of the sans-IO engine: events in, store operations and effects out."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from durable.protocol import decode_message
from reference_server import ids
from reference_server.core.effects import (
    Evict,
    Facts,
    Finished,
    Invoke,
    Retry,
    ScheduleTimer,
    SubmitRequest,
)
from reference_server.core.engine import Engine
from reference_server.core.entries import wakes
from reference_server.core.model import HandlerInfo, Inv, ServiceInfo
from reference_server.store import base as ops


def _rand() -> Any:
    counter = itertools.count(1)
    return lambda n: next(counter).to_bytes(n, "big")


def make_engine(**kw: Any) -> Engine:
    eng = Engine(rand=_rand(), **kw)
    eng.services = {
        "Svc": ServiceInfo("Svc", "service", "dp_1", {"h": HandlerInfo("h", "shared")}),
        "Obj": ServiceInfo(
            "Obj", "object", "dp_1",
            {"ex": HandlerInfo("ex", "exclusive"), "sh": HandlerInfo("sh", "shared")},
        ),
        "Wf": ServiceInfo(
            "Wf", "workflow", "dp_1",
            {"run": HandlerInfo("run", "workflow"), "q": HandlerInfo("q", "shared")},
        ),
        "Limited": ServiceInfo(
            "Limited", "service", "dp_1",
            {"h": HandlerInfo("h", "shared", retry={"max_attempts": 2, "initial_interval_ms": 5})},
        ),
    }
    return eng


def req(service: str = "Svc", handler: str = "h", key: str | None = None, **kw: Any) -> SubmitRequest:
    return SubmitRequest(service, handler, key, {"value": 1}, {}, **kw)


def msgs(*objs: dict[str, Any]) -> list[Any]:
    return [decode_message(o) for o in objs]


def invokes(effects: list[Any]) -> list[Invoke]:
    return [e for e in effects if isinstance(e, Invoke)]


def journal(batch: list[Any], inv_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(o.entry) for o in batch if isinstance(o, ops.AppendJournal) and o.invocation_id == inv_id]


def start(eng: Engine, r: SubmitRequest, now: int = 1000) -> tuple[str, Invoke]:
    res, eff = eng.submit(r, now)
    assert res.invocation_id is not None
    eng.take_batch()
    (inv,) = invokes(eff)
    return res.invocation_id, inv


END = [{"type": "output", "index": 1, "value": "ok"}, {"type": "end"}]


def test_submit_writes_input_and_invokes() -> None:
    eng = make_engine()
    res, eff = eng.submit(req(), 1000)
    assert res.status == "accepted"
    batch = eng.take_batch()
    entries = journal(batch, res.invocation_id or "")
    assert entries == [{"type": "input", "parameter": {"value": 1}, "headers": {}, "index": 0}]
    assert any(isinstance(o, ops.PutInvocation) and o.status == "running" for o in batch)
    (inv,) = invokes(eff)
    assert inv.start.journal_length == 1 and inv.start.resume_from == 0 and not inv.needs_state


def test_end_completes_and_finishes() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    eff = eng.on_response(inv_id, inv.start.attempt_id, msgs(*END), 1001)
    assert Finished(inv_id, {"value": "ok"}) in eff and Evict(inv_id) in eff
    batch = eng.take_batch()
    assert [o.status for o in batch if isinstance(o, ops.PutInvocation)] == ["completed"]
    eng.evict(inv_id)
    assert inv_id not in eng.active


def test_stale_attempt_is_ignored() -> None:
    eng = make_engine()
    inv_id, _ = start(eng, req())
    assert eng.on_response(inv_id, "att_other", msgs(*END), 1001) == []
    assert eng.take_batch() == []


def test_object_exclusive_fifo_and_shared_concurrent() -> None:
    eng = make_engine()
    a, inv_a = start(eng, req("Obj", "ex", "k"))
    b_res, b_eff = eng.submit(req("Obj", "ex", "k"), 1001)
    _, c_eff = eng.submit(req("Obj", "ex", "k"), 1002)
    assert invokes(b_eff) == [] and invokes(c_eff) == []
    assert eng.active[b_res.invocation_id or ""].status == "pending"
    _, sh_eff = eng.submit(req("Obj", "sh", "k"), 1003)
    assert len(invokes(sh_eff)) == 1
    _, other_eff = eng.submit(req("Obj", "ex", "other"), 1003)
    assert len(invokes(other_eff)) == 1
    eff = eng.on_response(a, inv_a.start.attempt_id, msgs(*END), 1004)
    (nxt,) = invokes(eff)
    assert nxt.start.invocation_id == b_res.invocation_id
    assert nxt.needs_state


def test_first_attempt_of_a_workflow_run_starts_with_an_empty_state_unread() -> None:
    """A run's state goes with the run (purge, expiry), so its first attempt needs no state
    read; any later attempt (a retry may follow set_state commands) reads the stored state."""
    eng = make_engine()
    inv_id, first = start(eng, req("Wf", "run", "k"))
    assert first.start.state == {} and not first.needs_state
    eff = eng.on_response(inv_id, first.start.attempt_id, msgs(
        {"type": "set_state", "index": 1, "key": "a", "parameter": {"value": 1}},
        {"type": "error", "code": 500, "message": "boom"},
    ), 1001)
    (retry,) = [e for e in eff if isinstance(e, Retry)]
    (again,) = invokes(eng.on_retry(inv_id, retry.attempt_count, 2000))
    assert again.start.state is None and again.needs_state
    _, shared = start(eng, req("Wf", "q", "k"))
    assert shared.start.state is None and shared.needs_state  # a shared handler: not the run


def test_workflow_run_once_per_key() -> None:
    eng = make_engine()
    first, _ = eng.submit(req("Wf", "run", "k"), 1000)
    assert first.invocation_id == ids.workflow_invocation_id("Wf", "k")
    again, eff = eng.submit(req("Wf", "run", "k"), 1001)
    assert again.status == "already_invoked" and eff == []
    sent, _ = eng.submit(req("Wf", "run", "k", mode="send"), 1002)
    assert sent.status == "previously_accepted" and sent.invocation_id == first.invocation_id


def test_completed_workflow_from_facts_still_blocks_the_key() -> None:
    eng = make_engine()
    wf_id = ids.workflow_invocation_id("Wf", "k")
    row = Inv(wf_id, "Wf", "run", "k", "workflow", "workflow", "completed", 1, 0, 0, result={"value": 3})
    res, _ = eng.submit(req("Wf", "run", "k"), 1000, Facts({wf_id: row.to_data()}, {}))
    assert res.status == "already_invoked" and res.completed and res.result == {"value": 3}


def test_idempotency_key_dedupes() -> None:
    eng = make_engine()
    a, _ = eng.submit(req(idempotency_key="x"), 1000)
    b, eff = eng.submit(req(idempotency_key="x"), 1001)
    assert b.status == "previously_accepted" and a.invocation_id == b.invocation_id and eff == []


def test_run_proposal_resumes_warm_at_once() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    eff = eng.on_response(
        inv_id,
        inv.start.attempt_id,
        msgs(
            {"type": "run", "index": 1, "completion_id": 1, "name": "step"},
            {"type": "propose_run_completion", "completion_id": 1, "value": 42},
            {"type": "suspension", "awaiting": {"completion_ids": [1]}},
        ),
        1001,
    )
    entries = journal(eng.take_batch(), inv_id)
    assert [e["type"] for e in entries] == ["run", "completion"]
    assert entries[1] == {"type": "completion", "completion_id": 1, "value": 42, "index": 2}
    (nxt,) = invokes(eff)
    assert nxt.start.resume_from == 2 and nxt.start.journal_length == 3
    assert nxt.start.resume_attempt_id == inv.start.attempt_id


def test_always_suspend_sends_the_full_journal() -> None:
    eng = make_engine(always_suspend=True)
    inv_id, inv = start(eng, req())
    eff = eng.on_response(
        inv_id,
        inv.start.attempt_id,
        msgs(
            {"type": "run", "index": 1, "completion_id": 1},
            {"type": "propose_run_completion", "completion_id": 1, "value": 1},
            {"type": "suspension", "awaiting": {"completion_ids": [1]}},
        ),
        1001,
    )
    (nxt,) = invokes(eff)
    assert nxt.start.resume_from == 0 and nxt.start.resume_attempt_id is None


def test_resume_miss_resends_full_without_counting_a_failure() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    eff = eng.on_response(
        inv_id, inv.start.attempt_id,
        msgs({"type": "run", "index": 1, "completion_id": 1},
             {"type": "propose_run_completion", "completion_id": 1, "value": 1},
             {"type": "suspension", "awaiting": {"completion_ids": [1]}}), 1001)
    (warm,) = invokes(eff)
    eff = eng.on_response(inv_id, warm.start.attempt_id, msgs({"type": "resume_miss"}), 1002)
    (full,) = invokes(eff)
    assert full.start.resume_from == 0 and full.start.retry_count == 0


def test_resume_miss_to_a_full_journal_is_a_violation() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    eff = eng.on_response(inv_id, inv.start.attempt_id, msgs({"type": "resume_miss"}), 1001)
    assert any(isinstance(e, Retry) for e in eff) and invokes(eff) == []
    assert eng.active[inv_id].last_failure["code"] == 571


def test_suspension_waits_for_its_notification() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    eff = eng.on_response(
        inv_id, inv.start.attempt_id,
        msgs({"type": "sleep", "index": 1, "completion_id": 1, "wake_up_time_ms": 5000},
             {"type": "suspension", "awaiting": {"completion_ids": [1]}}), 1001)
    (timer,) = [e for e in eff if isinstance(e, ScheduleTimer)]
    assert invokes(eff) == [] and eng.active[inv_id].status == "suspended"
    batch = eng.take_batch()
    assert any(isinstance(o, ops.PutTimer) and o.due_ms == 5000 for o in batch)
    eff = eng.on_timer(timer.timer, 5000)
    (nxt,) = invokes(eff)
    assert nxt.start.resume_from == 2
    entries = journal(eng.take_batch(), inv_id)
    assert entries == [{"type": "completion", "completion_id": 1, "void": True, "index": 2}]


def test_notification_during_attempt_waits_in_pending() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    awk = ids.awakeable_id(inv_id, 17)
    found, eff = eng.signal_awakeable(awk, {"value": "hi"}, 1001)
    assert found and eff == [] and eng.active[inv_id].pending
    assert journal(eng.take_batch(), inv_id) == []
    eff = eng.on_response(
        inv_id, inv.start.attempt_id,
        msgs({"type": "suspension", "awaiting": {"signal_ids": [17]}}), 1002)
    assert len(invokes(eff)) == 1
    assert journal(eng.take_batch(), inv_id) == [
        {"type": "signal", "signal_id": 17, "value": "hi", "index": 1}
    ]


def test_error_backs_off_and_exhausts_the_policy() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req("Limited"))
    eff = eng.on_response(inv_id, inv.start.attempt_id, msgs({"type": "error", "code": 500, "message": "x"}), 1001)
    (retry,) = [e for e in eff if isinstance(e, Retry)]
    assert retry.delay_ms == 5 and eng.active[inv_id].status == "backing-off"
    (again,) = invokes(eng.on_retry(inv_id, retry.attempt_count, 1010))
    assert again.start.retry_count == 1
    eff = eng.on_attempt_failed(inv_id, again.start.attempt_id, 503, "down", 1011)
    assert Finished(inv_id, {"failure": {"code": 503, "message": "down"}}) in eff


def test_default_backoff_doubles_up_to_the_max() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    delays = []
    attempt = inv.start.attempt_id
    for i in range(10):
        eff = eng.on_attempt_failed(inv_id, attempt, 500, "x", 1000 + i)
        (retry,) = [e for e in eff if isinstance(e, Retry)]
        delays.append(retry.delay_ms)
        attempt = invokes(eng.on_retry(inv_id, retry.attempt_count, 1000 + i))[0].start.attempt_id
    assert delays[:4] == [100, 200, 400, 800] and delays[-1] == 10_000


@pytest.mark.parametrize(
    "bad",
    [
        [{"type": "run", "index": 5, "completion_id": 1}, {"type": "end"}],
        [{"type": "output", "index": 1, "value": 1}],
        [{"type": "end"}],
        [{"type": "run", "index": 1, "completion_id": 1}, {"type": "run", "index": 2, "completion_id": 1},
         {"type": "suspension", "awaiting": {"completion_ids": [1]}}],
        [{"type": "propose_run_completion", "completion_id": 9, "value": 1},
         {"type": "suspension", "awaiting": {"completion_ids": [9]}}],
        [{"type": "set_state", "index": 1, "key": "a", "parameter": {"value": 1}}, *END[1:]],
        [{"type": "completion", "index": 1, "completion_id": 1, "void": True}, {"type": "end"}],
        [{"type": "end"}, {"type": "end"}],
    ],
)
def test_invalid_responses_append_nothing(bad: list[dict[str, Any]]) -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    eff = eng.on_response(inv_id, inv.start.attempt_id, msgs(*bad), 1001)
    assert any(isinstance(e, Retry) for e in eff)
    assert journal(eng.take_batch(), inv_id) == []
    assert eng.active[inv_id].last_failure["code"] == 571


def test_state_writes_of_exclusive_handlers_are_stored() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req("Obj", "ex", "k"))
    eng.on_response(inv_id, inv.start.attempt_id, msgs(
        {"type": "set_state", "index": 1, "key": "a", "parameter": {"value": 1}},
        {"type": "clear_state", "index": 2, "key": "b"},
        {"type": "output", "index": 3, "void": True}, {"type": "end"}), 1001)
    batch = eng.take_batch()
    assert ops.SetState("Obj", "k", "a", b'{"value":1}') in batch
    assert ops.ClearState("Obj", "k", "b") in batch


def test_call_creates_child_and_delivers_its_result() -> None:
    eng = make_engine()
    parent, inv = start(eng, req())
    eff = eng.on_response(parent, inv.start.attempt_id, msgs(
        {"type": "call", "index": 1, "completion_id": 2, "invocation_id_completion_id": 1,
         "service": "Svc", "handler": "h", "parameter": {"value": 5}},
        {"type": "suspension", "awaiting": {"completion_ids": [2]}}), 1001)
    (child,) = invokes(eff)
    child_id = child.start.invocation_id
    entries = journal(eng.take_batch(), parent)
    assert entries[1] == {"type": "completion", "completion_id": 1, "invocation_id": child_id, "index": 2}
    eff = eng.on_response(child_id, child.start.attempt_id, msgs(*END), 1002)
    (resumed,) = invokes(eff)
    assert resumed.start.invocation_id == parent
    assert journal(eng.take_batch(), parent) == [
        {"type": "completion", "completion_id": 2, "value": "ok", "index": 3}
    ]
    assert eng.active[child_id].caller == parent


def test_call_to_unknown_service_fails_the_call() -> None:
    eng = make_engine()
    parent, inv = start(eng, req())
    eng.on_response(parent, inv.start.attempt_id, msgs(
        {"type": "call", "index": 1, "completion_id": 2, "invocation_id_completion_id": 1,
         "service": "Nope", "handler": "h", "parameter": {"void": True}},
        {"type": "suspension", "awaiting": {"completion_ids": [2]}}), 1001)
    entries = journal(eng.take_batch(), parent)
    assert entries[-1]["failure"]["code"] == 404


def test_delayed_send_starts_on_its_timer() -> None:
    eng = make_engine()
    res, eff = eng.submit(req(mode="send", execute_at=9000), 1000)
    (timer,) = [e for e in eff if isinstance(e, ScheduleTimer)]
    assert invokes(eff) == [] and eng.active[res.invocation_id or ""].status == "scheduled"
    assert len(invokes(eng.on_timer(timer.timer, 9000))) == 1


def test_promises_get_before_and_after_complete() -> None:
    eng = make_engine()
    run_id, run = start(eng, req("Wf", "run", "k"))
    eng.on_response(run_id, run.start.attempt_id, msgs(
        {"type": "get_promise", "index": 1, "completion_id": 1, "key": "p"},
        {"type": "suspension", "awaiting": {"completion_ids": [1]}}), 1001)
    eng.take_batch()
    q_id, q = start(eng, req("Wf", "q", "k"))
    eff = eng.on_response(q_id, q.start.attempt_id, msgs(
        {"type": "complete_promise", "index": 1, "completion_id": 1, "key": "p", "value": "v"},
        {"type": "complete_promise", "index": 2, "completion_id": 2, "key": "p", "value": "w"},
        {"type": "peek_promise", "index": 3, "completion_id": 3, "key": "p"},
        {"type": "suspension", "awaiting": {"completion_ids": [1, 2, 3]}}), 1002)
    batch = eng.take_batch()
    q_entries = journal(batch, q_id)
    assert q_entries[3:] == [
        {"type": "completion", "completion_id": 1, "void": True, "index": 4},
        {"type": "completion", "completion_id": 2, "failure": {"code": 409, "message": "promise already completed"}, "index": 5},
        {"type": "completion", "completion_id": 3, "value": "v", "index": 6},
    ]
    assert journal(batch, run_id) == [{"type": "completion", "completion_id": 1, "value": "v", "index": 2}]
    assert {i.start.invocation_id for i in invokes(eff)} == {run_id, q_id}


def test_cancel_not_started_pending_and_running() -> None:
    eng = make_engine()
    a, _ = start(eng, req("Obj", "ex", "k"))
    b, _ = eng.submit(req("Obj", "ex", "k"), 1001)
    outcome, eff = eng.cancel(b.invocation_id or "", 1002)
    assert outcome == "done" and Finished(b.invocation_id or "", {"failure": {"code": 409, "message": "cancelled"}}) in eff
    outcome, _ = eng.cancel(a, 1003)
    assert outcome == "accepted" and eng.active[a].pending == [{"type": "signal", "signal_id": 1, "void": True}]
    eng.cancel(a, 1004)
    assert len(eng.active[a].pending) == 1
    assert eng.cancel("inv_unknown", 1005)[0] == "not_found"


def test_kill_cascades_to_children() -> None:
    eng = make_engine()
    parent, inv = start(eng, req())
    eff = eng.on_response(parent, inv.start.attempt_id, msgs(
        {"type": "call", "index": 1, "completion_id": 2, "invocation_id_completion_id": 1,
         "service": "Svc", "handler": "h", "parameter": {"void": True}},
        {"type": "suspension", "awaiting": {"completion_ids": [2]}}), 1001)
    child = invokes(eff)[0].start.invocation_id
    outcome, eff = eng.kill(parent, 1002)
    killed = {"failure": {"code": 409, "message": "killed"}}
    assert outcome == "done" and Finished(parent, killed) in eff and Finished(child, killed) in eff
    assert eng.kill(parent, 1003)[0] == "completed"


def test_purge_needs_a_completed_invocation() -> None:
    eng = make_engine()
    inv_id, inv = start(eng, req())
    assert eng.purge(inv_id, 1001)[0] == "not_completed"
    eng.on_response(inv_id, inv.start.attempt_id, msgs(*END), 1002)
    eng.take_batch()
    assert eng.purge(inv_id, 1003)[0] == "done"
    assert ops.DeleteInvocation(inv_id) in eng.take_batch()


def test_load_rebuilds_locks_and_restarts_attempts() -> None:
    eng = make_engine()
    a, _ = start(eng, req("Obj", "ex", "k"))
    b, _ = eng.submit(req("Obj", "ex", "k"), 1001)
    rows = [o.data for o in eng.take_batch() if isinstance(o, ops.PutInvocation)]
    rows.append(eng.active[a].to_data())
    fresh = make_engine()
    eff = fresh.load(rows, 2000)
    assert [i.start.invocation_id for i in invokes(eff)] == [a]
    assert fresh.locks[("Obj", "k")] == a and list(fresh.inbox[("Obj", "k")]) == [b.invocation_id]


def test_wakes() -> None:
    tree = {"combinator": "all_completed", "nested": [{"completion_ids": [3]}, {"signal_ids": [17]}]}
    assert wakes(tree, {"type": "completion", "completion_id": 3})
    assert wakes(tree, {"type": "signal", "signal_id": 17})
    assert wakes(tree, {"type": "signal", "signal_id": 1})
    assert not wakes(tree, {"type": "completion", "completion_id": 4})


def test_expiry_frees_a_workflow_key_with_its_state_and_promises() -> None:
    eng = make_engine()
    eng.expire([("inv_wf", "Wf", "run", "k"), ("inv_s", "Svc", "h", None)], 5000)
    batch = eng.take_batch()
    assert ops.DeleteInvocation("inv_wf") in batch and ops.DeleteInvocation("inv_s") in batch
    assert ops.ClearState("Wf", "k", None) in batch and ops.DeletePromises("Wf", "k") in batch
    assert len(batch) == 4


def test_retention_comes_from_the_handler() -> None:
    eng = make_engine(retention_ms=1000)
    eng.services["Short"] = ServiceInfo("Short", "service", "dp_1", {"h": HandlerInfo("h", "shared", retention_ms=10)})
    a, inv_a = start(eng, req())
    b, inv_b = start(eng, req("Short"))
    eng.on_response(a, inv_a.start.attempt_id, msgs(*END), 2000)
    eng.on_response(b, inv_b.start.attempt_id, msgs(*END), 2000)
    assert eng.active[a].expires_at == 3000 and eng.active[b].expires_at == 2010


def test_get_invocation_output_and_attach() -> None:
    eng = make_engine()
    target, target_inv = start(eng, req())
    me, inv = start(eng, req())
    eng.on_response(me, inv.start.attempt_id, msgs(
        {"type": "get_invocation_output", "index": 1, "completion_id": 1, "target": {"invocation_id": target}},
        {"type": "attach_invocation", "index": 2, "completion_id": 2, "target": {"invocation_id": target}},
        {"type": "get_invocation_output", "index": 3, "completion_id": 3, "target": {"invocation_id": "inv_none"}},
        {"type": "suspension", "awaiting": {"completion_ids": [2]}}), 1001)
    entries = journal(eng.take_batch(), me)
    assert entries[3:] == [
        {"type": "completion", "completion_id": 1, "void": True, "index": 4},
        {"type": "completion", "completion_id": 3, "failure": {"code": 404, "message": "invocation not found"}, "index": 5},
    ]
    eff = eng.on_response(target, target_inv.start.attempt_id, msgs(*END), 1002)
    assert [i.start.invocation_id for i in invokes(eff)] == [me]
    assert journal(eng.take_batch(), me) == [{"type": "completion", "completion_id": 2, "value": "ok", "index": 6}]
