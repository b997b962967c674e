"""Seeded random programs for the fuzz interpreter.

A *program* is a JSON document that the ``FuzzInterpreter`` virtual object executes command by
command (``fuzz/services/interpreter.py``). Programs are plain dicts so that they travel as the
handler's input unchanged, land verbatim in reproduction files and can be shrunk by deleting
list items.

Why our own generator rather than Restate's verification runner's: that runner's weighted rank
groups give some kinds weight 0 at some layers (THROWING_SIDE_EFFECT and RECOVER_TERMINAL_CALL are
never generated at L0/L1), its ``random(low, high)`` ignores ``low``, and its crash victim comes
from an unseeded PRNG. Here:

* every command kind has a non-zero weight at every depth (nesting kinds at the deepest
  interpreter layer call *leaf* programs, which is a layer of its own, see :data:`LEAF_KINDS`);
* :meth:`Gen.between` honours both bounds (tested);
* *everything* (programs, keys, values, and — in :mod:`fuzz.schedule` — the fault schedule) is
  derived from one integer seed through :func:`sub_rng`, which hashes ``(seed, label)`` so that
  adding a new consumer of randomness does not shift the others;
* the first programs of a run force each kind once (a *coverage prelude*) so that even short runs
  exercise every kind, and the runner still fails if the realised histogram misses one.

State names are namespaced by program id (``"<pid>/<name>"``) so that the final value of every
state entry is independent of the order in which concurrent programs on one key ran; the only
shared, order-independent entry is the ``counter`` (increments commute).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

Program = dict[str, Any]
Command = dict[str, Any]

#: Kinds a program may contain at any interpreter layer.
BASIC_KINDS: tuple[str, ...] = (
    "set",  # ctx.set(<pid>/<name>, value)
    "get",  # ctx.get(<pid>/<name>) -> observed, checked against the model
    "clear",  # ctx.clear(<pid>/<name>)
    "incr",  # counter := counter + 1 (get + set)
    "run",  # durable step whose closure records an execution in the external ledger
    "run_retry",  # durable step that fails (retryable) on its first ``fails`` executions
    "run_fail",  # durable step that raises TerminalError; the handler catches it (recovery)
    "sleep",  # durable timer
    "awakeable",  # awakeable resolved from outside (by the fuzzer, through the ingress)
    "awakeable_reject",  # awakeable rejected from outside; the handler catches the TerminalError
    "promise",  # workflow promise resolved from outside; the interpreter calls the workflow
    "saga",  # steps with compensations; one step fails terminally, compensations run in reverse
)
#: Kinds that start another interpreter invocation on a key of the next layer.
NESTED_KINDS: tuple[str, ...] = (
    "call",  # request/response call; the child's output is observed
    "call_fail",  # call of a child that ends with a terminal error; the caller recovers
    "send",  # one-way send
    "delayed_send",  # one-way send with a delay
)
#: Kinds that start several durable operations at once and wait on a combinator.
COMBINATOR_KINDS: tuple[str, ...] = (
    "gather",  # run/sleep/call futures, all awaited (all_completed); every value observed
    "race",  # sleep/call futures, the first to complete wins (select); the same on every replay
)
#: Program-level endings (not drawn as ordinary commands).
ENDING_KINDS: tuple[str, ...] = (
    "fail",  # the program ends with a terminal error (top level or a call_fail child)
    "cancel",  # the program blocks on an awakeable nobody resolves; the fuzzer cancels it
    "kill",  # the same, but the fuzzer kills it (admin API): no further attempt, no handler code
)
ALL_KINDS: tuple[str, ...] = BASIC_KINDS + NESTED_KINDS + COMBINATOR_KINDS + ENDING_KINDS
#: Leaf programs (children of the deepest interpreter layer) only use these; their combinators
#: hold no calls.
LEAF_KINDS: tuple[str, ...] = BASIC_KINDS + COMBINATOR_KINDS

STATE_NAMES = ("a", "b", "c")
OBJECT = "FuzzInterpreter"
WORKFLOW = "FuzzWorkflow"
HELPER = "FuzzHelper"


def sub_rng(seed: int, label: str) -> random.Random:
    """An independent PRNG for one consumer of randomness (stable under unrelated changes)."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class GenConfig:
    """Bounds of the generator. ``max_depth`` counts interpreter layers below the top (L0)."""

    keys_per_layer: int = 64
    max_depth: int = 2
    min_commands: int = 1
    max_commands: int = 8
    child_max_commands: int = 4
    max_sleep_ms: int = 400
    max_delay_ms: int = 800
    fail_probability: float = 0.08
    cancel_probability: float = 0.05
    kill_probability: float = 0.03
    same_key_probability: float = 0.35


class Gen:
    """Draws programs from a seeded PRNG; see the module docstring for the guarantees."""

    def __init__(self, seed: int, config: GenConfig | None = None) -> None:
        self.seed = seed
        self.config = config or GenConfig()
        self.rng = sub_rng(seed, "programs")
        self.count = 0
        self._last_child_key: dict[str, str] = {}

    # ------------------------------------------------------------------ primitives

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high]`` (both bounds honoured, unlike the Restate runner)."""
        if high < low:
            raise ValueError(f"empty range [{low}, {high}]")
        return self.rng.randint(low, high)

    def key(self, layer: int) -> str:
        return f"L{layer}-{self.between(0, self.config.keys_per_layer - 1)}"

    def kinds_for(self, layer: int) -> tuple[str, ...]:
        """Kinds drawable at ``layer``: nested kinds at every interpreter layer ``<= max_depth``."""
        if layer > self.config.max_depth:
            return LEAF_KINDS
        return BASIC_KINDS + NESTED_KINDS + COMBINATOR_KINDS

    # ------------------------------------------------------------------ programs

    def program(self, force_kind: str | None = None) -> Program:
        """The next top-level program (``p<n>``) on a layer-0 key."""
        pid = f"p{self.count}"
        self.count += 1
        ending: str | None = None
        if force_kind in ENDING_KINDS:
            ending = force_kind
        elif force_kind is None:
            r = self.rng.random()
            c, k = self.config.cancel_probability, self.config.kill_probability
            if r < c:
                ending = "cancel"
            elif r < c + k:
                ending = "kill"
            elif r < c + k + self.config.fail_probability:
                ending = "fail"
        forced = force_kind if force_kind not in ENDING_KINDS else None
        return self._program(pid, 0, self.config.max_commands, forced, ending)

    def _program(
        self, pid: str, layer: int, max_commands: int, force_kind: str | None, ending: str | None
    ) -> Program:
        n = self.between(self.config.min_commands if layer == 0 else 0, max_commands)
        kinds = self.kinds_for(layer)
        if ending in ("cancel", "kill"):
            # Cancellation propagates to in-flight children; keep the model exact by not
            # starting children (calls or sends) in a program that will be cancelled.
            kinds = BASIC_KINDS
        chosen = [self.rng.choice(kinds) for _ in range(n)]
        if force_kind is not None:
            chosen.insert(self.between(0, len(chosen)), force_kind)
        commands = [self.command(kind, pid, i, layer) for i, kind in enumerate(chosen)]
        if ending == "fail":
            commands.append({"kind": "fail", "message": f"planned failure of {pid}"})
        elif ending in ("cancel", "kill"):
            commands.append({"kind": ending})
        return {"id": pid, "key": self._child_key(pid, layer), "layer": layer, "commands": commands}

    def _child_key(self, pid: str, layer: int) -> str:
        """A key for program ``pid``; a child often shares its previous sibling's key, so that
        the per-key order of one invocation's calls and sends (JRN-SEND-3) gets exercised."""
        parent = pid.rsplit(".", 1)[0] if "." in pid else None
        if parent is None:
            return self.key(layer)
        previous = self._last_child_key.get(parent)
        if previous is not None and self.rng.random() < self.config.same_key_probability:
            return previous
        key = self.key(layer)
        self._last_child_key[parent] = key
        return key

    def command(self, kind: str, pid: str, index: int, layer: int) -> Command:
        cfg = self.config
        name = self.rng.choice(STATE_NAMES)
        if kind == "set":
            return {"kind": kind, "name": name, "value": self.between(0, 999)}
        if kind in ("get", "clear"):
            return {"kind": kind, "name": name}
        if kind in ("incr", "run", "run_fail"):
            return {"kind": kind}
        if kind == "run_retry":
            return {"kind": kind, "fails": self.between(1, 2)}
        if kind == "sleep":
            return {"kind": kind, "ms": self.between(1, cfg.max_sleep_ms)}
        if kind in ("awakeable", "promise"):
            return {"kind": kind, "value": f"v{self.between(0, 999)}"}
        if kind == "awakeable_reject":
            return {"kind": kind, "message": f"rejected-{self.between(0, 999)}"}
        if kind == "saga":
            steps = self.between(1, 3)
            return {"kind": kind, "steps": steps, "fail_at": self.between(0, steps - 1)}
        if kind in COMBINATOR_KINDS:
            leaf = layer > cfg.max_depth
            menu = (("run", "sleep") if leaf else ("run", "sleep", "call")) if kind == "gather" else (
                ("sleep",) if leaf else ("sleep", "call"))
            items: list[Command] = []
            for j in range(self.between(2, 3) if kind == "gather" else 2):
                item_kind = self.rng.choice(menu)
                if item_kind == "sleep":
                    items.append({"kind": "sleep", "ms": self.between(1, cfg.max_sleep_ms)})
                elif item_kind == "run":
                    items.append({"kind": "run"})
                else:
                    child = self._program(f"{pid}.{index}g{j}", layer + 1, 2, None, None)
                    items.append({"kind": "call", "program": child})
            return {"kind": kind, "items": items}
        if kind in NESTED_KINDS:
            child_id = f"{pid}.{index}"
            ending = "fail" if kind == "call_fail" else None
            child = self._program(child_id, layer + 1, cfg.child_max_commands, None, ending)
            out: Command = {"kind": kind, "program": child}
            if kind == "delayed_send":
                out["delay_ms"] = self.between(1, cfg.max_delay_ms)
            return out
        raise ValueError(f"unknown kind {kind!r}")

    def programs(self, count: int) -> list[Program]:
        """``count`` programs; the first ones force every kind once (coverage prelude)."""
        out = []
        for i in range(count):
            forced = ALL_KINDS[i] if i < len(ALL_KINDS) else None
            out.append(self.program(forced))
        return out


# ---------------------------------------------------------------------- traversal helpers


def children(cmd: Command) -> list[Program]:
    """The programs a command starts (a nested kind's, or a combinator's calls)."""
    out = [cmd["program"]] if "program" in cmd else []
    out += [item["program"] for item in cmd.get("items", []) if "program" in item]
    return out


def walk(program: Program) -> list[Program]:
    """The program and all its descendants (pre-order)."""
    out = [program]
    for cmd in program["commands"]:
        for child in children(cmd):
            out.extend(walk(child))
    return out


def kind_histogram(programs: list[Program]) -> dict[str, int]:
    """How many commands of each kind the programs contain (descendants included)."""
    hist = dict.fromkeys(ALL_KINDS, 0)
    for top in programs:
        for p in walk(top):
            for cmd in p["commands"]:
                hist[cmd["kind"]] = hist.get(cmd["kind"], 0) + 1
    return hist


def state_name(pid: str, name: str) -> str:
    return f"{pid}/{name}"


def step_name(pid: str, index: int, suffix: str = "") -> str:
    """The ``ctx.run`` name of a step; the ledger and the proxy key executions by it."""
    return f"{pid}#{index}{suffix}"


def pid_of_step(step: str) -> str:
    return step.split("#", 1)[0]
