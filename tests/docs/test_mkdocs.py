"""The docs site builds with ``mkdocs build --strict`` (broken links, missing anchors and nav
problems are errors), and the spec hook did its job: a stable anchor per requirement, the
requirements index citing the conformance cases, the committed conformance results rendered.

Needs the ``docs`` extra (mkdocs-material); skipped with the reason when mkdocs is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason='mkdocs / mkdocs-material not installed (pip install -e ".[docs]")',
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_every_requirement_has_an_anchor(site: Path) -> None:
    reqs = json.loads((REPO / "spec" / "requirements.json").read_text())
    missing = []
    for r in reqs:
        page = site / "spec" / r["chapter"] / "index.html"
        if f'id="{r["id"]}"' not in page.read_text():
            missing.append(r["id"])
    assert not missing, f"requirements without an anchor: {missing[:20]}"
    wire = (site / "spec" / "02-wire-protocol" / "index.html").read_text()
    assert '<a id="WIRE-NEG-1" class="req-id" href="#WIRE-NEG-1"' in wire


def test_requirements_index_cites_cases(site: Path) -> None:
    from conformance.registry import all_cases

    html = (site / "spec" / "requirements" / "index.html").read_text()
    reqs = json.loads((REPO / "spec" / "requirements.json").read_text())
    assert html.count("<tr>") >= len(reqs)
    case = next(c for c in all_cases() if c.requirements)
    rid = case.requirements[0]
    row = re.search(rf'<tr>\s*<td><a href="../{re.escape(next(r["chapter"] for r in reqs if r["id"] == rid))}/#{rid}">{rid}</a></td>.*?</tr>', html, re.S)
    assert row is not None, f"no row for {rid}"
    assert case.id in row.group(0)
    cases_html = (site / "conformance" / "cases" / "index.html").read_text()
    assert f'id="{case.id.lower()}"' in cases_html


def test_guides_and_results_are_published(site: Path) -> None:
    for page in ("guides/quickstart", "guides/tour", "guides/sdk", "guides/conformance", "guides/fuzzing",
                 "guides/pytest", "guides/ui", "guides/cli", "reference/configuration", "architecture",
                 "benchmarks", "conformance/results", "spec"):
        assert (site / page / "index.html").is_file(), page
    results = (site / "conformance" / "results" / "index.html").read_text()
    assert "<!-- durable:conformance-results -->" not in results
    if (REPO / "conformance" / "results.md").is_file():
        assert "Restate" in results and '<a href="../cases/#' in results
    else:
        assert "No results published yet" in results
    assert (site / "spec" / "openapi.json").is_file()
    assert (site / "spec" / "schemas" / "message.json").is_file()
