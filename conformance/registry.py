"""The case registry: every case module registers its cases here with :func:`case`.

Cases are plain async functions so that they read like the procedures of gRPC's interop
descriptions: do this over HTTP, assert that. The decorator attaches the metadata a report
needs (requirement IDs, strength, capabilities, modes); the registry is filled by importing
:mod:`conformance.cases`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from .model import Case, CaseFn, Mode, Strength

_CASES: dict[str, Case] = {}


def case(
    id: str,
    title: str,
    *,
    requirements: Iterable[str],
    strength: Strength = Strength.MUST,
    capabilities: Iterable[str] = (),
    modes: Iterable[Mode] = (Mode.DEFAULT, Mode.ALWAYS_SUSPEND),
    timeout_s: float = 30.0,
    exclusive: bool = False,
) -> Callable[[CaseFn], CaseFn]:
    def deco(fn: CaseFn) -> CaseFn:
        register(
            Case(
                id=id,
                title=title,
                requirements=tuple(requirements),
                fn=fn,
                strength=strength,
                capabilities=tuple(capabilities),
                modes=tuple(modes),
                category=id.split("-", 1)[0],
                timeout_s=timeout_s,
                exclusive=exclusive,
            )
        )
        return fn

    return deco


def register(c: Case) -> None:
    if c.id in _CASES:
        raise ValueError(f"duplicate case id {c.id}")
    if not c.requirements:
        raise ValueError(f"case {c.id} cites no requirement")
    _CASES[c.id] = c


def all_cases() -> list[Case]:
    from . import cases, wire  # noqa: F401  (import registers the cases)

    return sorted(_CASES.values(), key=lambda c: c.id)


def select(patterns: Iterable[str] | None) -> list[Case]:
    """Cases whose id or any requirement id matches one of the globs (all when none given)."""
    pats = [p for p in (patterns or []) if p]
    cs = all_cases()
    if not pats:
        return cs
    return [
        c
        for c in cs
        if any(fnmatch.fnmatchcase(c.id, p) or any(fnmatch.fnmatchcase(r, p) for r in c.requirements) for p in pats)
    ]
