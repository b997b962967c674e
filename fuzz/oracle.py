"""The oracle: turns a recorded history into a list of violations.

A history has four sources, three of them *outside* the system under test:

* **client outcomes** (the driver): per top-level program, whether the ingress accepted it
  (``ok``), definitely refused it (``failed``) or left it unknown (``indeterminate``: a timeout
  or a reset after the request was written), and what attaching to it returned at the end;
* **the effect ledger** (:mod:`fuzz.ledger`): every execution of every step's closure
  (``exec``), and the ``done`` marker each interpreter invocation posts with its observations;
* **the proxy log** (:mod:`fuzz.proxy`): every request the server sent to the SDK through the
  fault proxy, with the run completions its journal carried, and when it was in flight;
* the **final state** of every key, read through the interpreter's shared ``dump`` handler.

Checks (violation ``kind`` in brackets):

* liveness: every accepted program and every child it starts posts a ``done`` marker before the
  stated bound after the final heal [``lost_invocation``];
* outputs equal the model's, status included [``wrong_output``], every ``done`` marker of a
  program agrees [``nondeterministic_output``] and what a client attaches to agrees
  [``client_output_mismatch``];
* final state equals the model over the programs that ran; an indeterminate program counts as
  run iff its ``done`` marker exists, and is otherwise allowed to be absent but never partial
  [``state_mismatch``, ``counter_mismatch``];
* exactly-once effects: an execution of a step is only allowed for a request whose journal did
  *not* yet carry the step's completion (a re-run before acknowledgement, e.g. of a duplicated
  or stale request): the request of the attempt the execution ran in (the interpreter reports
  it), or else some request in flight at the time [``step_rerun_after_ack``];
  a full journal sent after a completion was acknowledged still carries that completion with the
  same result and never shrinks [``ack_forgotten``, ``ack_changed``, ``journal_shrunk``]; a
  step's observed result comes from an execution the ledger saw [``result_not_executed``];
* sagas compensate exactly the steps that succeeded, in reverse order, and never run steps after
  the failing one [``saga_violation``];
* timers never fire early: no request carries a sleep's completion before its wake-up time, and
  a delayed send's target does not start before its invoke time [``timer_fired_early``,
  ``delayed_send_early``];
* virtual-object exclusivity: the invocations of one key's exclusive handler never overlap
  (each starts after the previous one's last attempt) [``exclusivity``];
* per-key order (JRN-SEND-3): the calls and (undelayed) sends one invocation addresses to one
  key run in the order of its commands [``order``];
* an attempt reaches the SDK at most once: once the SDK ran and answered an attempt (the proxy
  saw the answer, whatever it did with it then), the server never sends that same attempt again
  — a transport failure is a failed attempt, retried as a new one (WIRE-HTTP-9, WIRE-REQ-6); a
  copy the proxy made on purpose (``duplicate_request``) does not count
  [``attempt_redelivered``].

The oracle is pure (no I/O) so that it is unit-tested with synthetic histories, including the
broken behaviours it exists to catch.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from . import model
from .programs import Program, children, step_name, walk

#: An execution may be logged this long after its request ended (closure threads outlive the
#: HTTP exchange by a scheduling delay).
EXEC_GRACE_S = 1.0


@dataclass
class ClientOutcome:
    pid: str
    accept: str  # "ok" | "failed" | "indeterminate"
    invocation_id: str | None = None
    #: what attaching returned at the end: {"status": "ok", "output": ...} or
    #: {"status": "failed", "code": int, "message": str} or {"status": "unknown", ...}
    attach: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "accept": self.accept,
            "invocation_id": self.invocation_id,
            "attach": self.attach,
        }


@dataclass
class History:
    programs: list[Program]
    outcomes: dict[str, ClientOutcome]
    ledger: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]
    final_state: dict[str, dict[str, Any]] | None
    #: time (ledger clock) of the final heal and the liveness bound after it, in seconds
    heal_time: float = 0.0
    liveness_bound_s: float = 60.0


def _v(kind: str, detail: str, pid: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "detail": detail}
    if pid is not None:
        out["pid"] = pid
    out.update(extra)
    return out


def check(history: History) -> list[dict[str, Any]]:
    """All violations found in ``history`` (an empty list means the run passed)."""
    violations: list[dict[str, Any]] = []
    done = _done_markers(history.ledger, violations)
    applied = _applied(history, done)
    violations += _check_liveness_and_outputs(history, done, applied)
    violations += _check_state(history, done, applied)
    violations += _check_effects(history, done)
    violations += _check_acks(history.exchanges)
    violations += _check_timers(history.exchanges)
    violations += _check_exclusive(history.exchanges)
    violations += _check_order(history.programs, history.exchanges)
    violations += _check_redelivery(history.exchanges)
    return violations


# ---------------------------------------------------------------------- outputs and liveness


def _done_markers(
    ledger: list[dict[str, Any]], violations: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for rec in ledger:
        if rec.get("type") != "done":
            continue
        pid = rec["pid"]
        body = {k: rec.get(k) for k in ("status", "obs", "message")}
        if pid in first:
            prev = {k: first[pid].get(k) for k in ("status", "obs", "message")}
            if prev != body:
                violations.append(
                    _v("nondeterministic_output", f"done markers differ: {prev} vs {body}", pid)
                )
        else:
            first[pid] = rec
    return first


def _applied(history: History, done: dict[str, dict[str, Any]]) -> list[Program]:
    """Top-level programs that must have run: accepted ones, and indeterminate ones that the
    server accepted after all — their ``done`` marker exists, or the proxy saw the server
    invoke them (an invocation the server started must finish, whatever the client heard)."""
    invoked = {ex.get("owner") for ex in history.exchanges if ex.get("owner")}
    out = []
    for p in history.programs:
        o = history.outcomes.get(p["id"])
        if o is None:
            continue
        if o.accept == "ok" or (o.accept == "indeterminate" and (p["id"] in done or p["id"] in invoked)):
            out.append(p)
    return out


def _check_liveness_and_outputs(
    history: History, done: dict[str, dict[str, Any]], applied: list[Program]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = history.heal_time + history.liveness_bound_s
    for top in applied:
        outcome = history.outcomes[top["id"]]
        if model.expected_status(top) == "killed":
            out += _check_killed(top, outcome, done.get(top["id"]))
            continue
        for p in walk(top):
            pid = p["id"]
            rec = done.get(pid)
            if rec is None:
                out.append(
                    _v(
                        "lost_invocation",
                        f"no completion within {history.liveness_bound_s:.0f}s after the final heal",
                        pid,
                    )
                )
                continue
            if rec.get("t", 0.0) > deadline:
                out.append(_v("lost_invocation", "completed only after the liveness bound", pid))
            out += _check_output(p, rec)
        out += _check_client(top, outcome, done.get(top["id"]))
    return out


def _check_killed(p: Program, outcome: ClientOutcome, rec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A killed program never runs handler code again (no ``done`` marker) and its result, as
    a client sees it, is a 409 failure."""
    pid = p["id"]
    if rec is not None:
        return [_v("wrong_output", f"killed, yet its handler ended ({rec.get('status')})", pid)]
    att = outcome.attach
    if att is None or att.get("status") == "unknown":
        return [_v("lost_invocation", f"killed, but attaching to it did not answer: {att}", pid)]
    if att.get("status") != "failed" or att.get("code") != model.KILL_CODE:
        return [_v("client_output_mismatch", f"killed, but attach returned {att}", pid)]
    return []


def _check_output(p: Program, rec: dict[str, Any]) -> list[dict[str, Any]]:
    pid = p["id"]
    status = model.expected_status(p)
    got = rec.get("status")
    if got != status:
        return [_v("wrong_output", f"status {got!r}, expected {status!r}", pid)]
    if status == "failed" and rec.get("message") != model.failure_message(p):
        return [_v("wrong_output", f"failure message {rec.get('message')!r}", pid)]
    # (a cancelled program reports the observations it made before it blocked)
    expected = model.expected_obs(p)
    if not model.matches(expected, rec.get("obs")):
        return [_v("wrong_output", f"observations {rec.get('obs')} != model {expected}", pid)]
    return []


def _check_client(
    p: Program, outcome: ClientOutcome, rec: dict[str, Any] | None
) -> list[dict[str, Any]]:
    att = outcome.attach
    if att is None or rec is None or att.get("status") == "unknown":
        return []
    pid = p["id"]
    status = model.expected_status(p)
    if status == "ok":
        if att.get("status") != "ok" or att.get("output") != {"id": pid, "obs": rec.get("obs")}:
            return [_v("client_output_mismatch", f"attach returned {att}", pid)]
    elif att.get("status") != "failed":
        return [_v("client_output_mismatch", f"attach returned {att}, expected a failure", pid)]
    elif status in ("cancelled", "killed") and att.get("code") != model.CANCEL_CODE:
        return [_v("client_output_mismatch", f"cancelled, but attach returned {att}", pid)]
    elif status == "failed" and att.get("message") != model.failure_message(p):
        return [_v("client_output_mismatch", f"attach returned {att}", pid)]
    return []


# ---------------------------------------------------------------------- state


def _check_state(
    history: History, done: dict[str, dict[str, Any]], applied: list[Program]
) -> list[dict[str, Any]]:
    if history.final_state is None:
        return []
    out: list[dict[str, Any]] = []
    expected = model.final_state(applied)
    applied_ids = {p["id"] for p in applied}
    maybe = [
        p
        for p in history.programs
        if p["id"] not in applied_ids
        and history.outcomes.get(p["id"]) is not None
        and history.outcomes[p["id"]].accept == "indeterminate"
    ]
    slack: dict[str, int] = defaultdict(int)  # counter increments that may or may not exist
    optional: dict[str, dict[str, Any]] = defaultdict(dict)  # entries that may be absent
    for p in maybe:
        for key, kv in model.program_footprint(p).items():
            for name, value in kv.items():
                if name == model.COUNTER:
                    slack[key] += int(value)
                else:
                    optional[key][name] = value
    for key in sorted(set(expected) | set(history.final_state) | set(optional)):
        exp = dict(expected.get(key, {}))
        got = dict(history.final_state.get(key, {}))
        exp_counter = exp.pop(model.COUNTER, 0)
        got_counter = got.pop(model.COUNTER, 0)
        if not exp_counter <= got_counter <= exp_counter + slack[key]:
            out.append(
                _v(
                    "counter_mismatch",
                    f"key {key}: counter {got_counter}, model {exp_counter}"
                    + (f" (+{slack[key]} indeterminate)" if slack[key] else ""),
                    key=key,
                )
            )
        for name, value in optional[key].items():
            if name in got and got[name] == value and name not in exp:
                del got[name]
        if got != exp:
            missing = {k: v for k, v in exp.items() if got.get(k) != v}
            extra = {k: v for k, v in got.items() if exp.get(k) != v}
            out.append(
                _v("state_mismatch", f"key {key}: differs from model; model-only {missing}, "
                   f"actual-only {extra}", key=key)
            )
    return out


# ---------------------------------------------------------------------- effects


def _check_effects(history: History, done: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    execs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in history.ledger:
        if rec.get("type") == "exec":
            execs[rec["step"]].append(rec)
    out += _check_rerun_after_ack(history.exchanges, execs)
    programs = {p["id"]: p for top in history.programs for p in walk(top)}
    for pid, rec in done.items():
        p = programs.get(pid)
        if p is None or not isinstance(rec.get("obs"), list):
            continue
        obs = {o[0]: o[1] for o in rec["obs"] if isinstance(o, list) and len(o) == 2}
        for i, cmd in enumerate(p["commands"]):
            kind = cmd["kind"]
            if kind in ("run", "run_retry") and isinstance(obs.get(i), dict):
                n = obs[i].get("exec")
                seen = {e.get("n") for e in execs.get(step_name(pid, i), [])}
                if n not in seen:
                    out.append(
                        _v("result_not_executed", f"step {step_name(pid, i)} returned execution "
                           f"{n}, the ledger saw {sorted(x for x in seen if x is not None)}", pid)
                    )
                elif kind == "run_retry" and isinstance(n, int) and n <= cmd["fails"]:
                    out.append(
                        _v("result_not_executed", f"step {step_name(pid, i)} succeeded at "
                           f"execution {n} but fails on the first {cmd['fails']}", pid)
                    )
            elif kind == "gather" and isinstance(obs.get(i), list):
                for j, item in enumerate(cmd["items"]):
                    value = obs[i][j] if j < len(obs[i]) else None
                    if item["kind"] == "run" and isinstance(value, dict):
                        step = step_name(pid, i, f":g{j}")
                        seen = {e.get("n") for e in execs.get(step, [])}
                        if value.get("exec") not in seen:
                            out.append(_v("result_not_executed", f"step {step} returned execution "
                                          f"{value.get('exec')}, the ledger saw {sorted(x for x in seen if x is not None)}", pid))
            elif kind == "saga" and rec.get("status") == "ok":
                out += _check_saga(pid, i, cmd, execs)
    return out


def _check_saga(
    pid: str, i: int, cmd: dict[str, Any], execs: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    out = []
    fail_at = cmd["fail_at"]
    for s in range(cmd["steps"]):
        ran = execs.get(step_name(pid, i, f":s{s}"), [])
        comp = execs.get(step_name(pid, i, f":c{s}"), [])
        if s <= fail_at and not ran:
            out.append(_v("saga_violation", f"saga {pid}#{i}: step {s} never executed", pid))
        if s > fail_at and ran:
            out.append(_v("saga_violation", f"saga {pid}#{i}: step {s} ran after the failure", pid))
        if s < fail_at and not comp:
            out.append(_v("saga_violation", f"saga {pid}#{i}: step {s} not compensated", pid))
        if s >= fail_at and comp:
            out.append(_v("saga_violation", f"saga {pid}#{i}: step {s} wrongly compensated", pid))
    firsts = [
        min(e["seq"] for e in execs[step_name(pid, i, f":c{s}")])
        for s in reversed(range(fail_at))
        if execs.get(step_name(pid, i, f":c{s}"))
    ]
    if firsts != sorted(firsts):
        out.append(_v("saga_violation", f"saga {pid}#{i}: compensations out of order", pid))
    return out


def _known_acked(exchanges: list[dict[str, Any]]) -> dict[int, set[str]]:
    """For each exchange (by ``id``), the steps whose completion the SDK had been given.

    A warm resume carries only new entries, so what the SDK knows is everything the earlier
    requests of the same invocation carried. A duplicate knows what its original knew."""
    by_inv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in exchanges:
        by_inv[ex.get("invocation_id") or ""].append(ex)
    known: dict[int, set[str]] = {}
    for exs in by_inv.values():
        acc: set[str] = set()
        for ex in sorted(exs, key=lambda e: e["seq_start"]):
            own = set(ex.get("completions", {}))
            if ex.get("resume_from", 0) == 0:
                known[ex["id"]] = own
            else:
                known[ex["id"]] = acc | own
            if not ex.get("duplicate_of"):
                acc |= own
    return known


def _check_rerun_after_ack(
    exchanges: list[dict[str, Any]], execs: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """An execution is allowed only if the request it ran for did not carry the step's
    completion. An execution the ledger attributes to its attempt (``attempt``: the interpreter
    reports the attempt its handler runs in) is judged by that attempt's requests (a duplicate or
    a re-sent copy carries the same attempt id and the same journal), whenever it ran; one without
    an attempt id by the requests in flight when the ledger recorded it (up to
    ``EXEC_GRACE_S`` after a request ended: closure threads outlive their exchange)."""
    out = []
    known = _known_acked(exchanges)
    by_owner: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_attempt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in exchanges:
        if ex.get("owner"):
            by_owner[ex["owner"]].append(ex)
        if ex.get("attempt_id"):
            by_attempt[ex["attempt_id"]].append(ex)
    for step, recs in execs.items():
        for rec in recs:
            owner = rec.get("owner")
            attempt = rec.get("attempt")
            own = [ex for ex in by_attempt.get(attempt, []) if ex.get("owner") == owner] if attempt else []
            if own:
                if any(step not in known.get(ex["id"], set()) for ex in own):
                    continue
                out.append(_v("step_rerun_after_ack",
                              f"execution {rec.get('n')} of {step} at ledger seq {rec['seq']} ran "
                              f"in attempt {attempt}, whose request (exchanges "
                              f"{[ex['id'] for ex in own]}) carried its completion", owner, step=step))
                continue
            t = rec["t"]
            excusing = [
                ex
                for ex in by_owner.get(owner or "", [])
                if ex["t_start"] <= t <= (ex.get("t_end") or float("inf")) + EXEC_GRACE_S
                and step not in known.get(ex["id"], set())
            ]
            if not excusing:
                knowing = [
                    ex["id"]
                    for ex in by_owner.get(owner or "", [])
                    if ex["t_start"] <= t <= (ex.get("t_end") or float("inf")) + EXEC_GRACE_S
                ]
                out.append(
                    _v(
                        "step_rerun_after_ack",
                        f"execution {rec.get('n')} of {step} at ledger seq {rec['seq']} while "
                        + (
                            f"every request in flight (exchanges {knowing}) carried its completion"
                            if knowing
                            else "no request for its invocation was in flight"
                        ),
                        owner,
                        step=step,
                    )
                )
    return out


def _check_acks(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per invocation, in the order the server sent them: acknowledged completions persist."""
    out: list[dict[str, Any]] = []
    by_inv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in exchanges:
        if ex.get("invocation_id") and not ex.get("duplicate_of"):
            by_inv[ex["invocation_id"]].append(ex)
    for inv, exs in by_inv.items():
        acked: dict[str, Any] = {}
        longest = 0
        for ex in sorted(exs, key=lambda e: e["seq_start"]):
            comps: dict[str, Any] = ex.get("completions", {})
            owner = ex.get("owner")
            for step, result in comps.items():
                if step in acked and acked[step] != result:
                    out.append(
                        _v("ack_changed", f"{inv}: completion of {step} was {acked[step]}, "
                           f"now {result} (exchange {ex['id']})", owner, step=step)
                    )
            for dup in ex.get("duplicate_completions", []):
                out.append(
                    _v("ack_changed", f"{inv}: two completions for {dup} in one journal "
                       f"(exchange {ex['id']})", owner, step=dup)
                )
            if ex.get("resume_from", 0) == 0 and ex.get("journal_length") is not None:
                length = int(ex["journal_length"])
                if length < longest:
                    out.append(
                        _v("journal_shrunk", f"{inv}: journal of {length} entries after one of "
                           f"{longest} (exchange {ex['id']})", owner)
                    )
                longest = max(longest, length)
                for step in acked:
                    if step not in comps:
                        out.append(
                            _v("ack_forgotten", f"{inv}: completion of {step} was sent to the "
                               f"SDK, then missing from the full journal of exchange {ex['id']}",
                               owner, step=step)
                        )
            for step, result in comps.items():
                acked.setdefault(step, result)
    return out


# ---------------------------------------------------------------------- time and exclusivity

#: clock slack for the early-timer checks (one machine, one clock)
TIMER_SLACK_MS = 5
EXCLUSIVE_HANDLERS = {("FuzzInterpreter", "interpret")}


def _check_timers(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    invoke_at: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for ex in exchanges:
        for child, at in (ex.get("delayed_sends") or {}).items():
            invoke_at[child] = min(at, invoke_at.get(child, at))
        if ex.get("duplicate_of") or ex.get("wall_ms") is None:
            continue
        wall = int(ex["wall_ms"])
        owner = ex.get("owner")
        if owner:
            first_seen[owner] = min(wall, first_seen.get(owner, wall))
        for cid, wake in ex.get("timer_completions") or []:
            if wall < wake - TIMER_SLACK_MS:
                out.append(_v("timer_fired_early", f"{ex.get('invocation_id')}: sleep {cid} due at "
                              f"{wake} completed by {wall} ({wake - wall} ms early)", owner))
    for child, at in invoke_at.items():
        seen = first_seen.get(child)
        if seen is not None and seen < at - TIMER_SLACK_MS:
            out.append(_v("delayed_send_early", f"started at {seen}, {at - seen} ms before its "
                          "invoke time", child))
    return out


def _check_exclusive(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spans: dict[str, dict[str, list[float]]] = defaultdict(dict)
    owners: dict[str, str | None] = {}
    for ex in exchanges:
        if ex.get("duplicate_of") or (ex.get("service"), ex.get("handler")) not in EXCLUSIVE_HANDLERS:
            continue
        inv, key = ex.get("invocation_id"), ex.get("key")
        if not inv or key is None:
            continue
        owners[inv] = ex.get("owner")
        span = spans[key].setdefault(inv, [ex["t_start"], ex["t_start"]])
        span[0], span[1] = min(span[0], ex["t_start"]), max(span[1], ex["t_start"])
    out = []
    for key, per_inv in spans.items():
        ordered = sorted(per_inv.items(), key=lambda kv: kv[1][0])
        busy_until, holder = -1.0, ""
        for b, (b_start, b_end) in ordered:
            if b_start < busy_until:
                out.append(_v("exclusivity", f"key {key}: {b} started at {b_start:.3f}s while "
                              f"{holder} was still being attempted (until {busy_until:.3f}s)",
                              owners.get(b), key=key))
            if b_end > busy_until:
                busy_until, holder = b_end, b
    return out


def _check_order(programs: list[Program], exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for ex in exchanges:
        owner = ex.get("owner")
        if not owner or ex.get("duplicate_of") or (ex.get("service"), ex.get("handler")) not in EXCLUSIVE_HANDLERS:
            continue
        first[owner] = min(ex["t_start"], first.get(owner, ex["t_start"]))
        last[owner] = max(ex["t_start"], last.get(owner, ex["t_start"]))
    out = []
    for top in programs:
        for p in walk(top):
            by_key: dict[str, list[str]] = defaultdict(list)
            for cmd in p["commands"]:
                if cmd["kind"] in ("call", "call_fail", "send", "gather", "race"):
                    for child in children(cmd):
                        by_key[child["key"]].append(child["id"])
            for key, ids in by_key.items():
                for a, b in itertools.pairwise(ids):
                    if a in last and b in first and first[b] < last[a]:
                        out.append(_v("order", f"{p['id']} addressed {a} then {b} to key {key}, "
                                      f"but {b} started at {first[b]:.3f}s, before {a} finished "
                                      f"(last attempt {last[a]:.3f}s)", p["id"], key=key))
    return out


def _check_redelivery(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An attempt the SDK ran and answered (the proxy saw its answer, whatever became of it
    then) is never sent to the SDK again. Re-sending a request that may not have arrived (the
    SDK never answered it) is not flagged."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    out = []
    for ex in exchanges:
        inv, att = ex.get("invocation_id"), ex.get("attempt_id")
        if ex.get("duplicate_of") or not inv or not att:
            continue
        first = seen.get((inv, att))
        if first is None:
            seen[(inv, att)] = ex
        elif first.get("response") is not None and first.get("fault") != "truncate_request":
            out.append(_v("attempt_redelivered",
                          f"attempt {att} of {inv} reached the SDK at {first['t_start']:.3f}s "
                          f"(exchange {first['id']}, proxy fault {first.get('fault')}) and was "
                          f"sent again at {ex['t_start']:.3f}s (exchange {ex['id']})",
                          ex.get("owner"), invocation_id=inv))
    return out
