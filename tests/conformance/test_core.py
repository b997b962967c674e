"""The kit's core without a server: registry, reports, exclusions ratchet, profiles, CLI list."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from conformance import exclusions, profile
from conformance.cli import app
from conformance.model import CaseResult, Mode, Strength, Verdict, WireEntry
from conformance.registry import all_cases, select
from conformance.report import load_requirements, unknown_citations, write_reports
from conformance.sdk.cases import all_sdk_cases


def test_registry_has_enough_distinct_cited_cases() -> None:
    cases = all_cases()
    assert len(cases) >= 120
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.requirements for c in cases)
    categories = {c.category for c in cases}
    assert {"ING", "IDM", "RUN", "ST", "CALL", "TMR", "PRM", "CMB", "ERR", "CNL", "SAG", "OBJ", "WF", "DET", "SEC",
            "PROP"} <= categories
    assert any(c.strength is Strength.SHOULD for c in cases)
    assert len(all_sdk_cases()) >= 25


def test_citations_exist_in_the_spec_index() -> None:
    reqs = load_requirements()
    if not reqs:
        return
    assert unknown_citations(all_cases(), reqs) == {}
    assert unknown_citations(all_sdk_cases(), reqs) == {}


def test_select_by_case_and_requirement_glob() -> None:
    assert [c.id for c in select(["ING-001"])] == ["ING-001"]
    by_req = select(["TS-SAGA-*"])
    assert by_req and all(any(r.startswith("TS-SAGA-") for r in c.requirements) for c in by_req)


def _results() -> list[CaseResult]:
    cs = select(["ING-001", "ING-002", "ST-001"])
    wire = [WireEntry("POST", "http://127.0.0.1:1/x", {}, "1", 200, {}, "1")]
    return [
        CaseResult(cs[0], Mode.DEFAULT, Verdict.PASS, 0.1, "", wire),
        CaseResult(cs[1], Mode.DEFAULT, Verdict.FAIL, 0.2, "boom", wire),
        CaseResult(cs[2], Mode.ALWAYS_SUSPEND, Verdict.NON_STRICT, 0.3, "meh"),
    ]


def test_reports(tmp_path: Path) -> None:
    results = _results()
    write_reports(tmp_path, "impl", ["default", "always-suspend"], results, [r.case for r in results], {"ING-002": "why"})
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["implementation"] == "impl"
    assert {"id", "requirements", "verdict", "duration_s", "message", "wire_log"} <= set(index["cases"][0])
    assert index["summary"]["FAIL"] == 1 and index["summary"]["PASS"] == 1
    assert index["cases"][1]["wire_log"][0]["status"] == 200
    suites = ET.fromstring((tmp_path / "junit.xml").read_text())
    assert len(suites.findall(".//failure")) == 1
    md = (tmp_path / "summary.md").read_text()
    assert "## Spec coverage" in md and "ING-002" in md and "why" in md


def test_exclusions_ratchet(tmp_path: Path) -> None:
    f = tmp_path / "excl.yaml"
    f.write_text("default:\n- ST-999\n")
    excl = exclusions.load(f)
    results = _results()
    exclusions.apply(excl, results)
    assert not results[1].excluded
    new = exclusions.ratchet(excl, results)
    assert new == {"default": ["ING-002", "ST-999"]}
    out = tmp_path / "exclusions.new.yaml"
    exclusions.write_new(out, new)
    again = exclusions.load(out)
    exclusions.apply(again, results)
    assert results[1].excluded


def test_profiles() -> None:
    r = profile.load("restate")
    assert "admin.get_invocation" not in r.capabilities
    assert all(k in {c.id for c in all_cases()} for k in r.differences)
    assert profile.load("reference").name == "reference"


def test_cli_list() -> None:
    res = CliRunner().invoke(app, ["list", "--json", "--only", "WF-*"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and all(r["id"].startswith("WF-") or any(q.startswith("WF-") for q in r["requirements"]) for r in rows)
