"""The oracle catches deliberately broken behaviours in synthetic histories, and accepts correct
ones (including legitimate re-runs before acknowledgement and indeterminate client outcomes)."""

from __future__ import annotations

import copy
from typing import Any

from fuzz import model
from fuzz.oracle import ClientOutcome, History, check
from fuzz.programs import Program, step_name, walk


def _fill(expected: Any) -> Any:
    if expected == model.ANY_EXEC:
        return 1
    if isinstance(expected, dict):
        return {k: _fill(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [_fill(v) for v in expected]
    return expected


def _prog(pid: str, key: str, commands: list[dict[str, Any]], layer: int = 0) -> Program:
    return {"id": pid, "key": key, "layer": layer, "commands": commands}


class Builder:
    """Builds the history a correct implementation would produce."""

    def __init__(self, programs: list[Program]) -> None:
        self.programs = programs
        self.ledger: list[dict[str, Any]] = []
        self.exchanges: list[dict[str, Any]] = []
        self.seq = 0
        self.t = 0.0

    def rec(self, body: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        self.t += 0.01
        r = dict(body, seq=self.seq, t=self.t)
        self.ledger.append(r)
        return r

    def exchange(self, owner: str, t0: float, t1: float, completions: dict[str, Any] | None = None,
                 resume_from: int = 0, journal_length: int = 1, inv: str | None = None,
                 duplicate_of: int | None = None) -> dict[str, Any]:
        ex = {"id": len(self.exchanges) + 1, "owner": owner, "invocation_id": inv or f"inv_{owner}",
              "seq_start": len(self.exchanges) + 1, "t_start": t0, "t_end": t1,
              "completions": completions or {}, "resume_from": resume_from,
              "journal_length": journal_length, "duplicate_of": duplicate_of}
        self.exchanges.append(ex)
        return ex

    def build(self, indeterminate: tuple[str, ...] = ()) -> History:
        for top in self.programs:
            for p in walk(top):
                if top["id"] not in indeterminate:  # (an unknown outcome: never invoked here)
                    self.exchange(p["id"], 0.0, 1e6)
                for i, c in enumerate(p["commands"]):
                    if c["kind"] in ("run", "run_fail"):
                        self.rec({"type": "exec", "step": step_name(p["id"], i), "owner": p["id"], "n": 1})
                    if c["kind"] == "run_retry":
                        for n in range(1, c["fails"] + 2):
                            self.rec({"type": "exec", "step": step_name(p["id"], i), "owner": p["id"], "n": n})
                    if c["kind"] == "gather":
                        for j, item in enumerate(c["items"]):
                            if item["kind"] == "run":
                                self.rec({"type": "exec", "step": step_name(p["id"], i, f":g{j}"),
                                          "owner": p["id"], "n": 1})
                    if c["kind"] == "saga":
                        for s in range(c["fail_at"] + 1):
                            self.rec({"type": "exec", "step": step_name(p["id"], i, f":s{s}"), "owner": p["id"], "n": 1})
                        for s in reversed(range(c["fail_at"])):
                            self.rec({"type": "exec", "step": step_name(p["id"], i, f":c{s}"), "owner": p["id"], "n": 1})
                obs = _fill(model.expected_obs(p))
                for o in obs:  # a race: the first item wins
                    if isinstance(o[1], dict) and model.ANY_OF in o[1]:
                        o[1] = [0, o[1][model.ANY_OF][0]]
                # a run_retry succeeds at execution fails+1
                for o in obs:
                    cmd = p["commands"][o[0]]
                    if cmd["kind"] == "run_retry":
                        o[1] = {"exec": cmd["fails"] + 1}
                if top["id"] not in indeterminate:
                    self.rec({"type": "done", "pid": p["id"], "status": model.expected_status(p),
                              "obs": obs, "message": model.failure_message(p)})
        outcomes = {}
        for p in self.programs:
            accept = "indeterminate" if p["id"] in indeterminate else "ok"
            outcomes[p["id"]] = ClientOutcome(p["id"], accept, f"inv_{p['id']}")
        applied = [p for p in self.programs if p["id"] not in indeterminate]
        return History(self.programs, outcomes, self.ledger, self.exchanges,
                       model.final_state(applied), heal_time=0.0, liveness_bound_s=1e6)


def _sample() -> list[Program]:
    child = _prog("p0.3", "L1-0", [{"kind": "incr"}, {"kind": "run"}, {"kind": "set", "name": "a", "value": 5}], 1)
    failing = _prog("p0.4", "L1-1", [{"kind": "incr"}, {"kind": "fail", "message": "planned failure of p0.4"}], 1)
    return [
        _prog("p0", "L0-0", [
            {"kind": "set", "name": "a", "value": 1},
            {"kind": "get", "name": "a"},
            {"kind": "incr"},
            {"kind": "call", "program": child},
            {"kind": "call_fail", "program": failing},
            {"kind": "run_retry", "fails": 2},
            {"kind": "saga", "steps": 3, "fail_at": 2},
            {"kind": "sleep", "ms": 10},
            {"kind": "clear", "name": "a"},
            {"kind": "run_fail"},
        ]),
        _prog("p1", "L0-0", [{"kind": "incr"}, {"kind": "set", "name": "b", "value": 2},
                             {"kind": "awakeable", "value": "v1"}]),
        _prog("p2", "L0-1", [
            {"kind": "gather", "items": [{"kind": "run"}, {"kind": "sleep", "ms": 5},
                                         {"kind": "call", "program": _prog("p2.0g2", "L1-2", [{"kind": "incr"}], 1)}]},
            {"kind": "race", "items": [{"kind": "call", "program": _prog("p2.1g0", "L1-3", [{"kind": "get", "name": "a"}], 1)},
                                       {"kind": "sleep", "ms": 5}]},
        ]),
    ]


def kinds(vs: list[dict[str, Any]]) -> set[str]:
    return {v["kind"] for v in vs}


def test_correct_history_passes() -> None:
    h = Builder(_sample()).build()
    assert check(h) == []
    assert h.final_state == {"L0-0": {"counter": 2, "p1/b": 2}, "L1-0": {"counter": 1, "p0.3/a": 5},
                             "L1-1": {"counter": 1}, "L0-1": {}, "L1-2": {"counter": 1}, "L1-3": {}}


def test_step_rerun_after_ack_is_caught() -> None:
    b = Builder(_sample())
    h = b.build()
    # the only request in flight now carries the completion of p0.3#1, yet it runs again
    h.exchanges[:] = [e for e in h.exchanges if e["owner"] != "p0.3"]
    b.exchange("p0.3", 0.0, 1e6, completions={"p0.3#1": {"value": {"exec": 1}}})
    b.rec({"type": "exec", "step": "p0.3#1", "owner": "p0.3", "n": 2})
    assert "step_rerun_after_ack" in kinds(check(h))


def test_rerun_in_a_stale_duplicate_request_is_allowed() -> None:
    b = Builder(_sample())
    h = b.build()
    h.exchanges[:] = [e for e in h.exchanges if e["owner"] != "p0.3"]
    first = b.exchange("p0.3", 0.0, 1.0)
    b.exchange("p0.3", 2.0, 1e6, completions={"p0.3#1": {"value": {"exec": 1}}})
    b.exchange("p0.3", 0.0, 1e6, duplicate_of=first["id"])  # the stale copy, late
    b.rec({"type": "exec", "step": "p0.3#1", "owner": "p0.3", "n": 2})
    assert check(h) == []


def test_an_execution_is_judged_by_the_attempt_it_ran_in() -> None:
    """With the attempt id in the ledger, no clock is needed: an execution queued in an attempt
    that lacked the completion is a re-run before acknowledgement even if it ran after that
    request ended; one in an attempt whose request carried the completion is caught."""
    b = Builder(_sample())
    h = b.build()
    h.exchanges[:] = [e for e in h.exchanges if e["owner"] != "p0.3"]
    b.exchange("p0.3", 0.0, 1.0)["attempt_id"] = "att_a"
    b.exchange("p0.3", 2.0, 1e6, completions={"p0.3#1": {"value": {"exec": 1}}})["attempt_id"] = "att_b"
    late = b.rec({"type": "exec", "step": "p0.3#1", "owner": "p0.3", "n": 2, "attempt": "att_a"})
    late["t"] = 5.0  # long after its request ended, while only att_b (which knew) was in flight
    assert check(h) == []
    late["attempt"] = "att_b"
    assert kinds(check(h)) == {"step_rerun_after_ack"}
    del late["attempt"]  # unattributed: judged by the requests in flight then (att_b knew)
    assert kinds(check(h)) == {"step_rerun_after_ack"}


def test_ack_forgotten_and_changed_are_caught() -> None:
    b = Builder(_sample())
    h = b.build()
    b.exchange("p1", 1.0, 2.0, completions={"p1#9": {"value": 1}}, journal_length=5, inv="inv_x")
    b.exchange("p1", 3.0, 4.0, completions={}, journal_length=5, inv="inv_x")
    b.exchange("p1", 5.0, 6.0, completions={"p1#9": {"value": 2}}, journal_length=3, inv="inv_x")
    assert {"ack_forgotten", "ack_changed", "journal_shrunk"} <= kinds(check(h))


def test_lost_timer_is_a_liveness_violation() -> None:
    h = Builder(_sample()).build()
    h.ledger = [r for r in h.ledger if not (r["type"] == "done" and r["pid"] == "p0")]
    vs = check(h)
    assert "lost_invocation" in kinds(vs)
    assert any(v.get("pid") == "p0" for v in vs)


def test_doubled_counter_and_lost_state_are_caught() -> None:
    h = Builder(_sample()).build()
    assert h.final_state is not None
    h.final_state["L0-0"]["counter"] = 4
    del h.final_state["L1-0"]["p0.3/a"]
    assert {"counter_mismatch", "state_mismatch"} <= kinds(check(h))


def test_indeterminate_outcome_is_neither_lost_nor_applied() -> None:
    progs = _sample()
    h = Builder(progs).build(indeterminate=("p1",))
    assert check(h) == []  # absent: fine
    h2 = Builder(progs).build()
    h2.outcomes["p1"].accept = "indeterminate"
    assert check(h2) == []  # present (done marker exists): fine too
    assert h.final_state is not None
    h.final_state["L0-0"]["counter"] = 3  # more increments than even the indeterminate allows
    assert "counter_mismatch" in kinds(check(h))


def test_wrong_and_nondeterministic_outputs_are_caught() -> None:
    h = Builder(_sample()).build()
    done = next(r for r in h.ledger if r["type"] == "done" and r["pid"] == "p1")
    bad = copy.deepcopy(done)
    bad["obs"] = [[2, "v2"]]
    h.ledger.append(bad)
    assert "nondeterministic_output" in kinds(check(h))
    done["obs"] = [[2, "v2"]]
    assert "wrong_output" in kinds(check(h))


def test_result_not_from_an_execution_is_caught() -> None:
    h = Builder(_sample()).build()
    done = next(r for r in h.ledger if r["type"] == "done" and r["pid"] == "p0.3")
    done["obs"] = [[1, {"exec": 7}]]
    assert "result_not_executed" in kinds(check(h))


def test_saga_out_of_order_and_extra_step_are_caught() -> None:
    b = Builder(_sample())
    h = b.build()
    comps = [r for r in h.ledger if r.get("step", "").startswith("p0#6:c")]
    comps[0]["seq"], comps[1]["seq"] = comps[1]["seq"], comps[0]["seq"]
    assert "saga_violation" in kinds(check(h))
    h2 = Builder(_sample()).build()
    h2.ledger.append({"type": "exec", "step": "p0#6:s2x", "owner": "p0", "n": 1, "seq": 999, "t": 1.0})
    h2.ledger.append({"type": "exec", "step": step_name("p0", 6, ":c2"), "owner": "p0", "n": 1,
                      "seq": 1000, "t": 1.0})
    assert "saga_violation" in kinds(check(h2))


def test_client_mismatch_is_caught() -> None:
    h = Builder(_sample()).build()
    h.outcomes["p1"].attach = {"status": "ok", "output": {"id": "p1", "obs": []}}
    assert "client_output_mismatch" in kinds(check(h))
    h.outcomes["p1"].attach = {"status": "ok", "output": {"id": "p1", "obs": [[2, "v1"]]}}
    assert check(h) == []


def test_early_timer_and_early_delayed_send_are_caught() -> None:
    b = Builder(_sample())
    h = b.build()
    assert check(h) == []
    ex = b.exchange("p0", 0.0, 1.0)
    ex.update(wall_ms=1000, timer_completions=[[3, 1200]])
    assert "timer_fired_early" in kinds(check(h))
    ex.update(timer_completions=[[3, 1000]], delayed_sends={"p1": 5000})
    b.exchange("p1", 2.0, 3.0)["wall_ms"] = 4000
    assert kinds(check(h)) == {"delayed_send_early"}


def test_overlapping_exclusive_invocations_are_caught() -> None:
    b = Builder(_sample())
    h = b.build()
    for inv, t in (("inv_a", 1.0), ("inv_a", 3.0), ("inv_b", 2.0)):
        b.exchange("p0", t, t + 0.1, inv=inv).update(service="FuzzInterpreter", handler="interpret",
                                                       key="L0-0")
    assert "exclusivity" in kinds(check(h))
    h.exchanges[-1]["t_start"] = 3.5  # b after a's last attempt: fine
    assert check(h) == []


def test_race_winner_must_be_one_of_the_items() -> None:
    h = Builder(_sample()).build()
    done = next(r for r in h.ledger if r["type"] == "done" and r["pid"] == "p2")
    done["obs"][1][1] = [1, None]  # the sleep won: fine
    assert check(h) == []
    done["obs"][1][1] = [1, "late"]  # the sleep cannot have a value
    assert "wrong_output" in kinds(check(h))
    done["obs"][1][1] = [2, None]  # there is no third item
    assert "wrong_output" in kinds(check(h))


def test_killed_program_is_checked_through_attach() -> None:
    progs = [*_sample(), _prog("p3", "L0-2", [{"kind": "incr"}, {"kind": "kill"}])]
    h = Builder(progs).build()
    h.ledger[:] = [r for r in h.ledger if r.get("pid") != "p3"]  # a killed handler posts nothing
    assert kinds(check(h)) == {"lost_invocation"}  # nobody saw it end
    h.outcomes["p3"].attach = {"status": "failed", "code": 409, "message": "killed"}
    assert check(h) == []
    h.outcomes["p3"].attach = {"status": "ok", "output": None}
    assert "client_output_mismatch" in kinds(check(h))
    h.outcomes["p3"].attach = {"status": "failed", "code": 409, "message": "killed"}
    h.ledger.append({"type": "done", "pid": "p3", "status": "ok", "obs": [], "seq": 10**6, "t": 1.0})
    assert "wrong_output" in kinds(check(h))


def test_per_key_order_of_one_invocations_sends_is_checked() -> None:
    c1 = _prog("p4.0", "L1-5", [{"kind": "incr"}], 1)
    c2 = _prog("p4.1", "L1-5", [{"kind": "incr"}], 1)
    progs = [*_sample(), _prog("p4", "L0-3", [{"kind": "send", "program": c1},
                                             {"kind": "send", "program": c2}])]
    b = Builder(progs)
    h = b.build()
    h.exchanges[:] = [e for e in h.exchanges if e["owner"] not in ("p4.0", "p4.1")]
    for owner, t in (("p4.0", 1.0), ("p4.0", 2.0), ("p4.1", 3.0)):
        b.exchange(owner, t, t + 0.1).update(service="FuzzInterpreter", handler="interpret")
    assert check(h) == []
    h.exchanges[-1]["t_start"] = 1.5  # the second send started before the first finished
    assert "order" in kinds(check(h))


def test_indeterminate_but_invoked_program_must_complete() -> None:
    b = Builder(_sample())
    h = b.build(indeterminate=("p1",))
    assert check(h) == []
    b.exchange("p1", 1.0, 2.0)  # the server did invoke it: it must finish
    assert "lost_invocation" in kinds(check(h))


def test_an_attempt_the_sdk_answered_is_never_sent_again() -> None:
    """A transport failure after the SDK ran an attempt is a failed attempt (WIRE-HTTP-9): the
    next try is a new attempt, not the same one sent again (a blind HTTP-client retry)."""
    b = Builder(_sample())
    h = b.build()
    first = b.exchange("p0", 1.0, 1.1, inv="inv_r")
    first.update(attempt_id="att_1", response="suspension", fault="lose_suspension")
    again = b.exchange("p0", 1.2, 1.3, inv="inv_r")
    again.update(attempt_id="att_1", response="resume_miss")
    assert kinds(check(h)) == {"attempt_redelivered"}
    again["attempt_id"] = "att_2"  # a new attempt: fine
    assert check(h) == []
    again.update(attempt_id="att_1", duplicate_of=first["id"])  # the proxy's own copy: fine
    assert check(h) == []
    again["duplicate_of"] = None
    first.update(response=None, fault="drop_request")  # never reached the SDK: may be re-sent
    assert check(h) == []
