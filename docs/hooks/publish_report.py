"""Publish a conformance report in the docs: ``python docs/hooks/publish_report.py REPORT_DIR NAME``.

Why: the kit's ``index.json`` carries the wire log of every case (about 1 MB), which the
results page does not show. This keeps the verdicts (id, title, mode, requirements, verdict,
message, duration) and the summaries, and writes
``docs/conformance/results/NAME/index.json``, which ``docs/hooks/spec.py`` renders on the
"Conformance results" page at build time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

KEEP = ("id", "title", "mode", "requirements", "strength", "verdict", "message", "duration_s")


def publish(report_dir: Path, name: str) -> Path:
    rep = json.loads((report_dir / "index.json").read_text(encoding="utf-8"))
    rep["cases"] = [{k: c[k] for k in KEEP if k in c} for c in rep.get("cases", [])]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    rep["published"] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.stdout.strip() or "unknown",
    }
    dest = Path(__file__).resolve().parents[1] / "conformance" / "results" / name / "index.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rep, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[0])
    print(publish(Path(sys.argv[1]), sys.argv[2]))
