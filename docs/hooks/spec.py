"""mkdocs hook: publish ``spec/`` inside the docs site, with a stable anchor per requirement.

Why a hook and not a copy: ``spec/`` is normative and owned elsewhere; copying it into
``docs/`` would let the two drift. At build time this hook

- adds every ``spec/NN-*.md`` chapter (and ``spec/README.md`` as ``spec/index.md``) as a
  virtual page, plus ``spec/schemas/**.json`` and ``spec/openapi.json`` as downloadable files;
- turns each marker ``**[WIRE-NEG-1] MUST**`` into an anchor ``#WIRE-NEG-1`` that links to
  itself (the permalink), and each mention of a known ID elsewhere in the spec into a link;
- generates ``spec/requirements.md`` (every requirement: ID, strength, section, the
  conformance cases citing it) from ``spec/requirements.json`` and the conformance registry,
  and ``conformance/cases.md`` (every case and the requirements it cites);
- includes the kit's results page (``conformance/results.md``, generated from the kit's
  reports) where a page says ``<!-- durable:conformance-results -->``;
- fills the ``Specification`` nav section with the chapters that exist, and stands in for
  ``benchmarks.md`` until its owner writes it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "spec"
RESULTS = REPO / "conformance" / "results.md"
CHAPTER_RE = re.compile(r"^\d\d-.*\.md$")
MARKER_RE = re.compile(r"\*\*\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[1-9][0-9]*)\]\s*(MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\*\*")
MD_LINK_RE = re.compile(r"\[([^\]\n]+)\]\(([^)#\s]+\.md)(#[^)\s]*)?\)")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN_RE = re.compile(r"(`+)(?:.+?)\1")
RESULTS_MARKER = "<!-- durable:conformance-results -->"


@dataclass(frozen=True)
class CaseInfo:
    id: str
    title: str
    requirements: tuple[str, ...]
    half: str  # "server" or "sdk"


# ----------------------------------------------------------------------------- data


def chapters() -> list[Path]:
    return sorted(p for p in SPEC.glob("*.md") if CHAPTER_RE.match(p.name))


@cache
def requirements() -> list[dict[str, str]]:
    data: list[dict[str, str]] = json.loads((SPEC / "requirements.json").read_text(encoding="utf-8"))
    return data


@cache
def id_to_chapter() -> dict[str, str]:
    return {r["id"]: r["chapter"] for r in requirements()}


@cache
def cases() -> list[CaseInfo]:
    """Every conformance case, from the registry (imported) or ``durable conformance list --json``."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from conformance.registry import all_cases
    except ImportError:
        return _cases_from_cli()
    out = [CaseInfo(c.id, c.title, tuple(c.requirements), "server") for c in all_cases()]
    try:
        from conformance.sdk.cases import all_sdk_cases  # the SDK half, when present
    except ImportError:
        return out
    out += [CaseInfo(c.id, c.title, tuple(c.requirements), "sdk") for c in all_sdk_cases()]
    return out


def _cases_from_cli() -> list[CaseInfo]:
    answer = subprocess.run(
        [sys.executable, "-m", "durable.cli", "conformance", "list", "--json"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )
    return [CaseInfo(c["id"], c["title"], tuple(c["requirements"]), "server") for c in json.loads(answer.stdout)]


def citing_cases() -> dict[str, list[CaseInfo]]:
    out: dict[str, list[CaseInfo]] = {}
    for c in cases():
        for rid in c.requirements:
            out.setdefault(rid, []).append(c)
    return out


def chapter_title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


# ----------------------------------------------------------------------------- spec pages


def spec_uri(path: Path) -> str:
    return "spec/index.md" if path.name == "README.md" else f"spec/{path.name}"


def _link_ids(text: str, here: str) -> str:
    """Link mentions of known requirement IDs (not markers, not inside code spans)."""
    known = id_to_chapter()

    def one(m: re.Match[str]) -> str:
        rid = m.group(0)
        chapter = known.get(rid)
        if chapter is None:
            return rid
        target = f"#{rid}" if chapter == here else f"{chapter}.md#{rid}"
        return f"[{rid}]({target})"

    ref = re.compile(r"(?<![\w\[#/-])[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[1-9][0-9]*(?![\w\]-])")
    pieces: list[str] = []
    last = 0
    for code in CODE_SPAN_RE.finditer(text):
        pieces.append(ref.sub(one, text[last : code.start()]))
        pieces.append(code.group(0))
        last = code.end()
    pieces.append(ref.sub(one, text[last:]))
    return "".join(pieces)


def _fix_links(text: str, existing: set[str]) -> str:
    """README.md -> index.md; a link to a chapter that is not in the spec becomes plain text."""

    def one(m: re.Match[str]) -> str:
        label, target, anchor = m.group(1), m.group(2), m.group(3) or ""
        if "/" in target or target.startswith("http"):
            return m.group(0)
        if target == "README.md":
            return f"[{label}](index.md{anchor})"
        if target not in existing:
            return f"{label} (not published yet)"
        return m.group(0)

    return MD_LINK_RE.sub(one, text)


def _anchor(m: re.Match[str]) -> str:
    rid, strength = m.group(1), m.group(2)
    return (
        f'**<a id="{rid}" class="req-id" href="#{rid}" title="Permanent link to {rid}">'
        f"&#91;{rid}&#93;</a> {strength}**"
    )


def render_spec_page(markdown: str, chapter: str) -> str:
    existing = {p.name for p in chapters()}
    out: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        if FENCE_RE.match(line):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence or line.startswith("#"):
            out.append(line)
            continue
        line = _fix_links(line, existing)
        line = _link_ids(line, chapter)
        line = MARKER_RE.sub(_anchor, line)
        out.append(line)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- generated pages


#: front matter of the generated tables: no table of contents, so the table gets the width
WIDE = ["---", "hide:", "  - toc", "---", ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def requirements_page() -> str:
    reqs = requirements()
    cited = citing_cases()
    titles = {p.stem: chapter_title(p) for p in chapters()}
    counts: dict[str, int] = {}
    for r in reqs:
        counts[r["strength"]] = counts.get(r["strength"], 0) + 1
    uncited_must = [r for r in reqs if r["strength"] == "MUST" and r["id"] not in cited]
    n_cited = sum(1 for r in reqs if r["id"] in cited)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines = [
        *WIDE,
        "# Requirements index",
        "",
        f"{len(reqs)} requirements ({summary}); {len(cases())} conformance cases cite {n_cited} of them. "
        f"MUST requirements that no case cites yet: {len(uncited_must)}.",
        "",
        "Generated at build time from `spec/requirements.json` (`python -m durable.spec_index`) and the "
        "conformance registry (`durable conformance list --json`). Each ID links to its stable anchor "
        "in the chapter: `spec/<chapter>/#<ID>`.",
        "",
        "| ID | strength | section | requirement | cases |",
        "|---|---|---|---|---|",
    ]
    for r in reqs:
        chapter = r["chapter"]
        section = f"{titles.get(chapter, chapter).split(' ', 1)[0]} · {r['section']}"
        refs = ", ".join(f"[{c.id}](../conformance/cases.md#{c.id.lower()})" for c in cited.get(r["id"], []))
        lines.append(
            f"| [{r['id']}]({chapter}.md#{r['id']}) | {r['strength']} | {_cell(section)} | "
            f"{_cell(_plain(r['text']))} | {refs or '—'} |"
        )
    return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """Requirement text for a table cell: keep code spans, drop stray emphasis markers."""
    return text.replace("**", "")


def cases_page() -> str:
    known = id_to_chapter()
    lines = [
        *WIDE,
        "# Conformance cases",
        "",
        "Every case of the kit, with the requirements it cites (generated from the registry at "
        "build time; `durable conformance list` prints the same). The server half runs with "
        "`durable conformance run`; the SDK half with `durable conformance sdk --endpoint URL`.",
        "",
    ]
    for half, title in (("server", "Server cases"), ("sdk", "SDK cases")):
        group = [c for c in cases() if c.half == half]
        if not group:
            continue
        lines += [f"## {title}", "", "| case | title | requirements |", "|---|---|---|"]
        for c in group:
            reqs = ", ".join(
                f"[{rid}](../spec/{known[rid]}.md#{rid})" if rid in known else f"`{rid}`" for rid in c.requirements
            )
            lines.append(f'| <span id="{c.id.lower()}"></span>`{c.id}` | {_cell(c.title)} | {reqs} |')
        lines.append("")
    return "\n".join(lines) + "\n"


def results_section() -> str:
    """The kit's results page (``conformance/results.md``, written by ``python -m
    conformance.results_doc`` from the kit's reports), or a clearly marked placeholder."""
    if not RESULTS.is_file():
        return (
            '!!! warning "No results published yet"\n'
            "    `conformance/results.md` does not exist yet. Generate it as shown below and rebuild "
            "the site.\n"
        )
    lines = RESULTS.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]  # this page has its own title
    case_ids = {c.id for c in cases()}

    def link_case(m: re.Match[str]) -> str:
        cid = m.group(1)
        return f"| [{cid}](cases.md#{cid.lower()}) " if cid in case_ids else m.group(0)

    return "\n".join(re.sub(r"^\| ([A-Z]+-\d+) ", link_case, line) for line in lines) + "\n"


BENCHMARKS_STUB = """# Benchmarks

!!! note "Not published yet"
    The benchmark report is written by the benchmarks owner into `docs/benchmarks.md`; until it
    exists this page stands in for it. The harness lives in `benchmarks/`.
"""


# ----------------------------------------------------------------------------- mkdocs events


def on_config(config: Any) -> Any:
    nav = config.get("nav")
    if not nav:
        return config
    spec_nav: list[Any] = [{"Overview": "spec/index.md"}]
    spec_nav += [{chapter_title(p): f"spec/{p.name}"} for p in chapters()]
    spec_nav.append({"Requirements index": "spec/requirements.md"})
    for i, item in enumerate(nav):
        if isinstance(item, dict) and item.get("Specification") == "spec/index.md":
            nav[i] = {"Specification": spec_nav}
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    def add(uri: str, *, content: str | None = None, path: Path | None = None) -> None:
        if files.get_file_from_path(uri) is None:
            files.append(
                File.generated(config, uri, content=content, abs_src_path=str(path) if path else None)
            )

    for path in [SPEC / "README.md", *chapters()]:
        add(spec_uri(path), path=path)
    add("spec/requirements.md", content=requirements_page())
    add("conformance/cases.md", content=cases_page())
    add("spec/openapi.json", path=SPEC / "openapi.json")
    for schema in sorted((SPEC / "schemas").rglob("*.json")):
        add(f"spec/{schema.relative_to(SPEC).as_posix()}", path=schema)
    if not (REPO / "docs" / "benchmarks.md").is_file():
        add("benchmarks.md", content=BENCHMARKS_STUB)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    uri: str = page.file.src_uri
    if uri.startswith("spec/") and (uri == "spec/index.md" or CHAPTER_RE.match(uri[5:])):
        chapter = "" if uri == "spec/index.md" else Path(uri).stem
        return render_spec_page(markdown, chapter)
    if RESULTS_MARKER in markdown:
        return markdown.replace(RESULTS_MARKER, results_section())
    return markdown


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    server.watch(str(SPEC))
    return server
