"""Known-failure ratchet (as in Restate's sdk-test-suite): exit non-zero only on new failures.

The file is YAML or JSON: ``{"<mode>": ["CASE-ID", ...]}`` or a flat list (all modes). After a
run the kit writes ``exclusions.new.yaml`` next to the report: this run's failures united with
the old exclusions, ready to be committed when the new failures are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .model import CaseResult, Verdict

ALL = "*"


def load(path: Path | None) -> dict[str, set[str]]:
    if path is None:
        return {}
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else _load_yaml(text)
    if data is None:
        return {}
    if isinstance(data, list):
        return {ALL: {str(x) for x in data}}
    if isinstance(data, dict):
        return {str(k): {str(x) for x in (v or [])} for k, v in data.items()}
    raise ValueError(f"{path}: exclusions must be a list or a mapping of mode to list")


def is_excluded(excl: dict[str, set[str]], result: CaseResult) -> bool:
    return result.case.id in excl.get(ALL, set()) or result.case.id in excl.get(result.mode.value, set())


def apply(excl: dict[str, set[str]], results: Sequence[CaseResult]) -> None:
    for r in results:
        if r.verdict is Verdict.FAIL and is_excluded(excl, r):
            r.excluded = True


def ratchet(excl: dict[str, set[str]], results: Sequence[CaseResult]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {k: set(v) for k, v in excl.items()}
    for r in results:
        if r.verdict is Verdict.FAIL:
            out.setdefault(r.mode.value, set()).add(r.case.id)
    return {k: sorted(v) for k, v in sorted(out.items()) if v}


def write_new(path: Path, data: dict[str, list[str]]) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=1))
    else:
        lines = []
        for mode, ids in data.items():
            lines.append(f"{json.dumps(mode)}:")
            lines += [f"- {i}" for i in ids]
        path.write_text("\n".join(lines) + "\n")


def _load_yaml(text: str) -> object:
    """PyYAML when installed (not a dependency); otherwise the subset this module writes."""
    try:
        import yaml  # type: ignore[import-untyped]

        return yaml.safe_load(text)
    except ImportError:
        pass
    out: dict[str, list[str]] = {}
    flat: list[str] = []
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith("- "):
            item = line.lstrip()[2:].strip().strip("'\"")
            (current if current is not None else flat).append(item)
        elif line.endswith(":"):
            current = out.setdefault(line[:-1].strip().strip("'\""), [])
    return out if out else flat
