"""Implementation profiles: declared capabilities plus deliberate, documented differences.

A profile is JSON shipped in ``conformance/profiles/``: ``{"name", "capabilities": [...] |
"all", "lacks": [...], "differences": {"CASE-ID": "reason"}}``. Differences do not change a
verdict; they attach the reason to it in every report and keep it out of the exit status,
so a non-PASS against Restate is always either a kit bug or a difference explained here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import CAPABILITIES

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


@dataclass
class Profile:
    name: str
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset(CAPABILITIES))
    differences: dict[str, str] = field(default_factory=dict)
    lacks_reasons: dict[str, str] = field(default_factory=dict)


def from_json(data: dict[str, Any]) -> Profile:
    caps = data.get("capabilities", "all")
    base = set(CAPABILITIES) if caps == "all" else set(caps)
    base -= set(data.get("lacks", []))
    return Profile(str(data.get("name", "custom")), frozenset(base), dict(data.get("differences", {})),
                   dict(data.get("lacks_reasons", {})))


def load(name_or_path: str | None) -> Profile:
    if not name_or_path:
        return Profile("default")
    p = Path(name_or_path)
    if not p.exists():
        p = PROFILE_DIR / f"{name_or_path}.json"
    return from_json(json.loads(p.read_text()))
