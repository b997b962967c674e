"""The model: what a correct implementation must produce for a set of programs.

The model is a direct, sequential re-statement of the interpreter's semantics
(``fuzz/services/interpreter.py``) with no durability, no concurrency and no faults. Because
state names are namespaced per program and the shared counter only ever increments, the final
state of every key is a function of *which* programs ran, not of the order they ran in. That is
what lets the oracle compare final state *exactly* under arbitrary interleavings and faults.

Values that depend on the run (how many times a step's closure executed before its result was
acknowledged) are predicted as :data:`ANY_EXEC` and checked against the effect ledger instead.
"""

from __future__ import annotations

from typing import Any

from .programs import Program, children, state_name

ANY_EXEC = "*"
#: ``{ANY_OF: [v0, v1, ...]}`` matches ``[j, actual]`` when ``actual`` matches ``vj`` (a race)
ANY_OF = "__any_of__"
COUNTER = "counter"
CANCEL_CODE = 409
KILL_CODE = 409
RUN_FAIL_MESSAGE = "step failed"
SAGA_FAIL_MESSAGE = "saga step failed"


def expected_status(program: Program) -> str:
    """``ok``, ``failed`` (ends with ``fail``), ``cancelled`` (ends with ``cancel``) or
    ``killed`` (ends with ``kill``)."""
    cmds = program["commands"]
    if cmds and cmds[-1]["kind"] == "fail":
        return "failed"
    if cmds and cmds[-1]["kind"] == "cancel":
        return "cancelled"
    if cmds and cmds[-1]["kind"] == "kill":
        return "killed"
    return "ok"


def failure_message(program: Program) -> str | None:
    cmds = program["commands"]
    if cmds and cmds[-1]["kind"] == "fail":
        return str(cmds[-1]["message"])
    return None


def expected_obs(program: Program) -> list[list[Any]]:
    """The observations the interpreter reports, with :data:`ANY_EXEC` for step results."""
    pid = program["id"]
    local: dict[str, Any] = {}
    obs: list[list[Any]] = []
    for i, cmd in enumerate(program["commands"]):
        kind = cmd["kind"]
        if kind == "set":
            local[cmd["name"]] = cmd["value"]
        elif kind == "clear":
            local.pop(cmd["name"], None)
        elif kind == "get":
            obs.append([i, local.get(cmd["name"])])
        elif kind in ("run", "run_retry"):
            obs.append([i, {"exec": ANY_EXEC}])
        elif kind == "run_fail":
            obs.append([i, f"caught:{RUN_FAIL_MESSAGE}"])
        elif kind in ("awakeable", "promise"):
            obs.append([i, cmd["value"]])
        elif kind == "awakeable_reject":
            obs.append([i, f"rejected:{cmd['message']}"])
        elif kind == "saga":
            done = list(range(cmd["fail_at"]))
            obs.append([i, {"compensated": list(reversed(done))}])
        elif kind == "call":
            obs.append([i, expected_output(cmd["program"])])
        elif kind == "call_fail":
            obs.append([i, f"caught:{failure_message(cmd['program'])}"])
        elif kind == "gather":
            obs.append([i, [_item_value(item) for item in cmd["items"]]])
        elif kind == "race":
            obs.append([i, {ANY_OF: [_item_value(item) for item in cmd["items"]]}])
        elif kind in ("incr", "sleep", "send", "delayed_send", "fail", "cancel", "kill"):
            pass
        else:  # pragma: no cover - generator and model disagree
            raise ValueError(f"unknown kind {kind!r} in {pid}")
    return obs


def _item_value(item: dict[str, Any]) -> Any:
    if item["kind"] == "run":
        return {"exec": ANY_EXEC}
    if item["kind"] == "call":
        return expected_output(item["program"])
    return None  # a sleep


def expected_output(program: Program) -> dict[str, Any]:
    return {"id": program["id"], "obs": expected_obs(program)}


def matches(expected: Any, actual: Any) -> bool:
    """Structural equality where :data:`ANY_EXEC` matches any positive integer."""
    if expected == ANY_EXEC:
        return isinstance(actual, int) and not isinstance(actual, bool) and actual >= 1
    if isinstance(expected, dict) and ANY_OF in expected:
        options = expected[ANY_OF]
        return (
            isinstance(actual, list) and len(actual) == 2 and isinstance(actual[0], int)
            and 0 <= actual[0] < len(options) and matches(options[actual[0]], actual[1])
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(matches(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual) and type(expected) is type(actual)


def apply_program(program: Program, state: dict[str, dict[str, Any]]) -> None:
    """Apply a program and every child it starts to ``state`` (key -> name -> value)."""
    pid = program["id"]
    kv = state.setdefault(program["key"], {})
    for cmd in program["commands"]:
        kind = cmd["kind"]
        if kind == "set":
            kv[state_name(pid, cmd["name"])] = cmd["value"]
        elif kind == "clear":
            kv.pop(state_name(pid, cmd["name"]), None)
        elif kind == "incr":
            kv[COUNTER] = kv.get(COUNTER, 0) + 1
        for child in children(cmd):
            apply_program(child, state)


def final_state(programs: list[Program]) -> dict[str, dict[str, Any]]:
    """Predicted state of every key touched by ``programs`` (all assumed to have run)."""
    state: dict[str, dict[str, Any]] = {}
    for p in programs:
        apply_program(p, state)
    return state


def program_footprint(program: Program) -> dict[str, dict[str, Any]]:
    """The state entries one program (with its children) leaves behind, counter excluded,
    plus its number of increments per key under the ``counter`` name."""
    return final_state([program])
