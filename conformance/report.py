"""Reports: ``index.json`` (machine), ``junit.xml`` (CI), ``summary.md`` (humans).

The summary carries the spec-coverage section: the MUST requirements of
``spec/requirements.json`` that no case cites, so a gap in the kit is visible in every run
rather than discovered by a user.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .model import Case, CaseResult, Verdict
from .runner import summarize


def find_requirements_file() -> Path | None:
    here = Path(__file__).resolve().parent.parent / "spec" / "requirements.json"
    for p in (Path.cwd() / "spec" / "requirements.json", here):
        if p.exists():
            return p
    return None


def load_requirements(path: Path | None = None) -> list[dict[str, Any]]:
    """Requirement records ``{"id", "strength", ...}`` from the generated index (tolerant of shape)."""
    p = path or find_requirements_file()
    if p is None:
        return []
    data = json.loads(p.read_text())
    if isinstance(data, dict):
        data = data.get("requirements", list(data.values()) if all(isinstance(v, dict) for v in data.values()) else [])
    out = []
    for r in data if isinstance(data, list) else []:
        if isinstance(r, dict) and "id" in r:
            strength = str(r.get("strength") or r.get("level") or "").upper()
            out.append({**r, "strength": strength})
    return out


def uncovered_must(cases: Iterable[Case], requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cited = {req for c in cases for req in c.requirements}
    return [r for r in requirements if r["strength"] == "MUST" and r["id"] not in cited]


def unknown_citations(cases: Iterable[Case], requirements: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Cited ids the index does not know (only ids of indexed prefixes are checked)."""
    known = {r["id"] for r in requirements}
    prefixes = {r["id"].split("-", 1)[0] for r in requirements}
    out: dict[str, list[str]] = {}
    for c in cases:
        for req in c.requirements:
            if req.split("-", 1)[0] in prefixes and req not in known:
                out.setdefault(req, []).append(c.id)
    return out


def index_json(implementation: str, modes: Sequence[str], results: Sequence[CaseResult]) -> dict[str, Any]:
    return {
        "implementation": implementation,
        "mode": ",".join(modes),
        "cases": [r.to_json() for r in results],
        "summary": summarize(results),
        "summary_by_mode": {m: summarize([r for r in results if r.mode.value == m]) for m in modes},
    }


def junit_xml(implementation: str, results: Sequence[CaseResult]) -> str:
    suites = ET.Element("testsuites", name=f"durable-conformance:{implementation}")
    by_mode: dict[str, list[CaseResult]] = {}
    for r in results:
        by_mode.setdefault(r.mode.value, []).append(r)
    for mode, rs in by_mode.items():
        s = summarize(rs)
        suite = ET.SubElement(
            suites, "testsuite", name=f"{implementation}.{mode}", tests=str(len(rs)),
            failures=str(s[Verdict.FAIL.value]),
            skipped=str(s[Verdict.SKIPPED.value] + s[Verdict.UNIMPLEMENTED.value]),
            time=f"{sum(r.duration_s for r in rs):.3f}",
        )
        for r in rs:
            tc = ET.SubElement(suite, "testcase", classname=f"{mode}.{r.case.category}", name=f"{r.case.id} {r.case.title}",
                               time=f"{r.duration_s:.3f}")
            if r.verdict is Verdict.FAIL and not r.excluded:
                ET.SubElement(tc, "failure", message=r.message[:500]).text = r.message
            elif r.verdict in (Verdict.SKIPPED, Verdict.UNIMPLEMENTED) or r.excluded:
                ET.SubElement(tc, "skipped", message=f"{r.verdict.value}: {r.message}"[:500])
            elif r.verdict is Verdict.NON_STRICT:
                ET.SubElement(tc, "system-out").text = f"NON-STRICT: {r.message}"
    return ET.tostring(suites, encoding="unicode")


def summary_md(
    implementation: str,
    modes: Sequence[str],
    results: Sequence[CaseResult],
    cases: Sequence[Case],
    profile_notes: dict[str, str] | None = None,
) -> str:
    lines = [f"# Conformance report: {implementation}", ""]
    verdicts = [v.value for v in Verdict]
    lines += ["| mode | " + " | ".join(verdicts) + " |", "|---|" + "---|" * len(verdicts)]
    for m in modes:
        s = summarize([r for r in results if r.mode.value == m])
        lines.append(f"| {m} | " + " | ".join(str(s[v]) for v in verdicts) + " |")
    lines.append("")
    bad = [r for r in results if r.verdict not in (Verdict.PASS,)]
    if bad:
        lines += ["## Not passing", "", "| case | mode | verdict | requirements | message | profile reason |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(bad, key=lambda r: (r.case.id, r.mode.value)):
            msg = r.message.replace("|", "\\|").replace("\n", " ")[:300]
            reason = (r.explained or "").replace("|", "\\|")
            flag = " (excluded)" if r.excluded else ""
            lines.append(f"| {r.case.id} {r.case.title} | {r.mode.value} | {r.verdict.value}{flag} | "
                         f"{', '.join(r.case.requirements)} | {msg} | {reason} |")
        lines.append("")
    if profile_notes:
        lines += ["## Profile: known differences and undeclared capabilities, with reasons", ""]
        lines += [f"- **{k}**: {v}" for k, v in sorted(profile_notes.items())]
        lines.append("")
    lines += ["## Spec coverage", ""]
    reqs = load_requirements()
    if not reqs:
        lines.append("spec/requirements.json not found: coverage not computed.")
    else:
        missing = uncovered_must(cases, reqs)
        cited = {req for c in cases for req in c.requirements}
        must = [r for r in reqs if r["strength"] == "MUST"]
        lines.append(f"{len(must) - len(missing)} of {len(must)} MUST requirements are cited by at least one case "
                     f"({len(cited)} distinct ids cited).")
        if missing:
            lines += ["", "MUST requirements no case cites:", ""]
            lines += [f"- `{r['id']}` {str(r.get('text', ''))[:140]}" for r in missing]
        unknown = unknown_citations(cases, reqs)
        if unknown:
            lines += ["", "Cited ids missing from the index:", ""]
            lines += [f"- `{k}` (cited by {', '.join(v)})" for k, v in sorted(unknown.items())]
    lines.append("")
    return "\n".join(lines)


def matrix_md(reports: dict[str, dict[str, Any]]) -> str:
    """A case x implementation matrix from several ``index.json`` documents."""
    names = list(reports)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for name, rep in reports.items():
        for c in rep.get("cases", []):
            rows.setdefault((c["id"], c.get("mode", "")), {})[name] = c["verdict"]
    out = ["| case | mode | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for (cid, mode), vs in sorted(rows.items()):
        out.append(f"| {cid} | {mode} | " + " | ".join(vs.get(n, "") for n in names) + " |")
    return "\n".join(out) + "\n"


def write_reports(
    report_dir: Path,
    implementation: str,
    modes: Sequence[str],
    results: Sequence[CaseResult],
    cases: Sequence[Case],
    profile_notes: dict[str, str] | None = None,
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "index.json").write_text(json.dumps(index_json(implementation, modes, results), indent=1))
    (report_dir / "junit.xml").write_text(junit_xml(implementation, results))
    (report_dir / "summary.md").write_text(summary_md(implementation, modes, results, cases, profile_notes))
