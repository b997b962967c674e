"""Shrinking a failing reproduction: fewer programs first, then fewer commands.

Each candidate is a full replay (same seed, same fault schedule), so shrinking is bounded by an
attempt budget rather than run to a fixpoint. Coverage is not required of replays; a candidate
"still fails" when it has at least one violation other than a coverage gap.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from .programs import Program

Replay = Callable[[list[Program], int], Awaitable[tuple[dict[str, Any], list[Program]]]]


def candidates(programs: list[Program]) -> list[list[Program]]:
    """Smaller variants: each program alone, then each program minus one top-level command."""
    out: list[list[Program]] = []
    if len(programs) > 1:
        out += [[p] for p in programs]
    for pi, p in enumerate(programs):
        for ci in range(len(p["commands"])):
            q = copy.deepcopy(p)
            del q["commands"][ci]
            out.append([*programs[:pi], q, *programs[pi + 1 :]])
    return out


def fails(report: dict[str, Any]) -> bool:
    return any(v["kind"] != "coverage_gap" for v in report["violations"])


async def shrink(replay: Replay, programs: list[Program], budget: int) -> list[Program] | None:
    """The smallest failing variant found within ``budget`` replays (None if none failed)."""
    best: list[Program] | None = None
    current = programs
    attempts = 0
    improved = True
    while improved and attempts < budget:
        improved = False
        for cand in candidates(current):
            if attempts >= budget:
                break
            attempts += 1
            report, _ = await replay(cand, attempts)
            if fails(report):
                best = current = cand
                improved = True
                break
    return best
