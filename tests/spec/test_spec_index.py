"""The requirement index (durable.spec_index) and the consistency of the chapters with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from durable import spec_index
from durable.protocol import messages as m

SPEC = Path(__file__).resolve().parents[2] / "spec"


def test_index_is_fresh_and_ids_unique() -> None:
    spec_index.check(SPEC)  # raises SpecIndexError if stale, malformed or duplicated
    reqs = spec_index.load_requirements(SPEC)
    ids = [r.id for r in reqs]
    assert len(ids) == len(set(ids))
    assert all(spec_index.ID_RE.match(i) for i in ids)
    assert all(r.strength in spec_index.STRENGTHS for r in reqs)
    assert all(r.text and r.section for r in reqs)


def test_cli_check_passes() -> None:
    assert spec_index.main(["--check", "--spec-dir", str(SPEC)]) == 0


@pytest.mark.parametrize(
    ("chapter", "prefix"),
    [("01-overview-and-versioning", "VER"), ("02-wire-protocol", "WIRE"), ("03-journal", "JRN"),
     ("04-discovery", "DISC"), ("05-ingress", "ING"), ("06-admin", "ADM"), ("07-errors", "ERR")],
)
def test_chapters_exist_with_their_prefix_and_restate_differences(chapter: str, prefix: str) -> None:
    text = (SPEC / f"{chapter}.md").read_text(encoding="utf-8")
    assert "## Differences from Restate (on purpose)" in text
    reqs = [r for r in spec_index.load_requirements(SPEC) if r.chapter == chapter]
    assert len(reqs) >= 10
    assert {r.id.split("-", 1)[0] for r in reqs} == {prefix}


def _write(tmp: Path, body: str, name: str = "02-wire-protocol.md") -> Path:
    (tmp / "README.md").write_text("# spec\n")
    (tmp / name).write_text(body)
    return tmp


def test_malformed_ids_are_reported(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n- **[WIRE-neg-1] MUST** lower case.\n- **[WIRE-X-1] MUST** ok.\n")
    with pytest.raises(spec_index.SpecIndexError, match="malformed"):
        spec_index.parse_spec(root)


def test_bad_strength_is_reported(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n- **[WIRE-X-1] SHALL** no.\n")
    with pytest.raises(spec_index.SpecIndexError, match="strength"):
        spec_index.parse_spec(root)


def test_duplicates_are_reported(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n- **[WIRE-X-1] MUST** a.\n- **[WIRE-X-1] MAY** b.\n")
    with pytest.raises(spec_index.SpecIndexError, match="duplicate"):
        spec_index.parse_spec(root)


def test_wrong_prefix_and_dangling_reference_are_reported(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n- **[JRN-X-1] MUST** a, see WIRE-X-9.\n")
    with pytest.raises(spec_index.SpecIndexError) as info:
        spec_index.parse_spec(root)
    assert any("uses prefixes" in p for p in info.value.problems)


def test_dangling_reference(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n- **[WIRE-X-1] MUST** a, see WIRE-X-9.\n")
    with pytest.raises(spec_index.SpecIndexError, match="undefined requirement WIRE-X-9"):
        spec_index.parse_spec(root)


def test_stale_index_is_reported(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n- **[WIRE-X-1] MUST** a\n  continued line.\n")
    assert spec_index.main(["--spec-dir", str(root)]) == 0
    reqs = spec_index.load_requirements(root)
    assert reqs == [spec_index.Requirement("WIRE-X-1", "MUST", "02-wire-protocol", "S", "a continued line.")]
    spec_index.check(root)
    (root / "02-wire-protocol.md").write_text("## S\n\n- **[WIRE-X-1] MUST** changed.\n")
    assert spec_index.main(["--check", "--spec-dir", str(root)]) == 1


def test_code_blocks_are_ignored(tmp_path: Path) -> None:
    root = _write(tmp_path, "## S\n\n```\n- **[bad] MUST** inside a fence\n```\n- **[WIRE-X-1] MAY** ok.\n")
    assert [r.id for r in spec_index.parse_spec(root)] == ["WIRE-X-1"]


def test_message_catalogue_names_every_message_type() -> None:
    text = (SPEC / "02-wire-protocol.md").read_text(encoding="utf-8")
    for t in m.MESSAGE_TYPES:
        assert f"| `{t}` |" in text, t


def test_determinism_table_matches_messages_py() -> None:
    text = (SPEC / "03-journal.md").read_text(encoding="utf-8")
    table = text.split("Fields compared on replay", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        fields = set(re.findall(r"`([a-z_]+)`", re.sub(r"\(.*?\)", "", cells[1])))
        if "the result" in cells[1]:
            fields.add("result")
        for t in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[t] = fields
    assert set(rows) == set(m.COMMAND_TYPES)
    for t, cls in m.COMMAND_TYPES.items():
        assert rows[t] == set(cls.DETERMINISM_FIELDS), t


def _refs(obj: object) -> list[str]:
    if isinstance(obj, dict):
        out = [obj["$ref"]] if isinstance(obj.get("$ref"), str) else []
        for v in obj.values():
            out += _refs(v)
        return out
    if isinstance(obj, list):
        return [r for v in obj for r in _refs(v)]
    return []


def _resolve_pointer(doc: object, pointer: str) -> object:
    for part in [p for p in pointer.split("/") if p]:
        assert isinstance(doc, dict), pointer
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def test_openapi_refs_exist() -> None:
    path = SPEC / "openapi.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.1")
    refs = _refs(doc)
    assert refs
    for r in refs:
        file_part, _, fragment = r.partition("#")
        target = json.loads((path.parent / file_part).read_text(encoding="utf-8")) if file_part else doc
        _resolve_pointer(target, fragment)
    used = {r.split("#")[0] for r in refs if not r.startswith("#")}
    schemas = SPEC / "schemas"
    for body in ("error", "ingress/send-response", "ingress/attach-request", "admin/invocation",
                 "admin/invocation-list", "admin/deployment-request", "admin/deployment-response",
                 "admin/cancel-response", "admin/kill-response", "admin/purge-response", "admin/state-response"):
        assert f"schemas/{body}.json" in used
        assert (schemas / f"{body}.json").is_file()


def test_openapi_is_valid() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    readers = pytest.importorskip("openapi_spec_validator.readers")
    spec, url = readers.read_from_filename(str(SPEC / "openapi.json"))
    validator.validate(spec, base_uri=url)


def test_conformance_cases_cite_existing_requirements() -> None:
    """Traceability: every requirement a conformance case cites is in the index."""
    registry = pytest.importorskip("conformance.registry")
    import importlib
    import pkgutil

    cases = pytest.importorskip("conformance.cases")
    for mod in pkgutil.iter_modules(cases.__path__):
        importlib.import_module(f"conformance.cases.{mod.name}")
    ids = {r.id for r in spec_index.load_requirements(SPEC)}
    unknown = sorted({(c.id, r) for c in registry.all_cases() for r in c.requirements if r not in ids})
    assert not unknown, f"cases cite requirements the spec does not define: {unknown}"


def test_schema_files_named_in_chapters_exist() -> None:
    named: set[str] = set()
    for path in [*spec_index.chapter_files(SPEC), SPEC / "README.md"]:
        named |= set(re.findall(r"schemas/([a-z0-9_/-]+\.json)", path.read_text(encoding="utf-8")))
    assert named
    missing = sorted(n for n in named if not (SPEC / "schemas" / n).is_file())
    assert not missing


def test_message_catalogue_lists_every_field() -> None:
    """Chapter 02's catalogue tables name exactly the fields of each message class."""
    import dataclasses

    text = (SPEC / "02-wire-protocol.md").read_text(encoding="utf-8")
    catalogue = text.split("## 2.7 Message catalogue", 1)[1].split("### 2.7.4", 1)[0]
    seen: set[str] = set()
    for line in catalogue.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) < 3 or not re.fullmatch(r"`[a-z_]+`", cells[0]):
            continue
        type_name = cells[0].strip("`")
        if type_name not in m.MESSAGE_TYPES:
            continue
        field_cell = cells[2] if type_name in m.CONTROL_TYPES else cells[1]
        named = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", field_cell)))
        expected = {f.name for f in dataclasses.fields(m.MESSAGE_TYPES[type_name])} - {"result"}
        assert named == expected, type_name
        seen.add(type_name)
    assert seen == set(m.MESSAGE_TYPES)


def test_one_strength_per_requirement() -> None:
    """A requirement's text carries no second normative keyword (one requirement per ID)."""
    offenders = [
        r.id
        for r in spec_index.load_requirements(SPEC)
        if not r.id.startswith("VER-CONF-") and re.search(r"\b(MUST|SHOULD|MAY|SHALL|REQUIRED)\b", r.text)
    ]
    assert not offenders
