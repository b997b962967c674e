"""Write ``conformance/results.md`` from report directories (``python -m conformance.results_doc``).

Usage: ``python -m conformance.results_doc OUT.md REFERENCE_DIR RESTATE_DIR SDK_DIR``. Every
non-PASS row carries its explanation (profile reason, missing capability, or the message).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path
from typing import Any

VERDICTS = ["PASS", "NON-STRICT", "FAIL", "UNIMPLEMENTED", "SKIPPED"]


def _table(doc: dict[str, Any]) -> str:
    out = ["| mode | " + " | ".join(VERDICTS) + " |", "|---|" + "---|" * len(VERDICTS)]
    for mode, s in doc["summary_by_mode"].items():
        out.append(f"| {mode} | " + " | ".join(str(s[v]) for v in VERDICTS) + " |")
    return "\n".join(out)


def _not_passing(doc: dict[str, Any]) -> str:
    rows = ["| case | mode | verdict | why |", "|---|---|---|---|"]
    for c in sorted(doc["cases"], key=lambda c: (c["id"], c["mode"])):
        if c["verdict"] == "PASS" or (c["verdict"] == "SKIPPED" and "not applicable" in c["message"]):
            continue
        why = (c.get("profile_reason") or c["message"]).replace("|", "/").replace("\n", " ")[:300]
        rows.append(f"| {c['id']} {c['title']} | {c['mode']} | {c['verdict']} | {why} |")
    return "\n".join(rows) if len(rows) > 2 else "Every case passes (apart from mode-gated SKIPPED ones)."


def render(ref: dict[str, Any], restate: dict[str, Any], sdk: dict[str, Any]) -> str:
    cats = collections.Counter(c["id"].split("-")[0] for c in ref["cases"] if c["mode"] == "default")
    per = ", ".join(f"{k} {v}" for k, v in sorted(cats.items()))
    return f"""# Conformance results

Recorded on a 2-core machine (shared with other jobs), loopback only, with `durable conformance
run` in both modes (crash and upgrade cases restart processes, so they run alone at the end).
Every non-PASS below is explained: a profile reason (`conformance/profiles/*.json`), a capability
the target does not declare (with the reason), or a mode the case does not apply to.

Cases per category (each run in both modes): {per}; {sum(cats.values())} server cases,
{len(sdk['cases'])} SDK cases.

## Restate 1.7.12 + restate-sdk 1.2.0 (`durable conformance run --target restate`)

{_table(restate)}

The 5 SKIPPED per default mode are the journal-mismatch cases (DET-001..004, DET-007), which need
replay and run in always-suspend mode only.

{_not_passing(restate)}

## Our stack: `durable server` + `conformance/services/reference` (`durable conformance run`)

{_table(ref)}

{_not_passing(ref)}

## SDK half: `durable conformance sdk` (reference_sdk serving spec/08's services)

{_table(sdk)}

{_not_passing(sdk)}

## Reproduce

```
pip install -e '.[restate,test]'
durable conformance run --target restate --report out/restate
durable conformance run --report out/reference
durable conformance sdk --report out/sdk
durable conformance compare out/reference out/restate --out out/matrix.md
python -m conformance.results_doc conformance/results.md out/reference out/restate out/sdk
```
"""


def main(argv: list[str]) -> None:
    out, ref, restate, sdk = (Path(a) for a in argv)
    docs = [json.loads((d / "index.json").read_text()) for d in (ref, restate, sdk)]
    out.write_text(render(*docs))


if __name__ == "__main__":
    main(sys.argv[1:])
