"""The requirement index of the spec: parse ``spec/*.md``, write ``spec/requirements.json``.

A requirement is written inline in a chapter as a bold marker followed by its text::

    - **[WIRE-NEG-1] MUST** The SDK answers 415 when ...

The ID is ``PREFIX(-PART)*-N`` in upper case; the strength is one of MUST, MUST NOT, SHOULD,
SHOULD NOT, MAY. The text runs to the end of the paragraph or list item. Each chapter owns its
prefixes (:data:`CHAPTER_PREFIXES`); chapters not listed there may use any prefix that no other
chapter uses.

Usage::

    python -m durable.spec_index            # regenerate spec/requirements.json
    python -m durable.spec_index --check    # exit 1 if the file is stale or an ID is bad/duplicated

:func:`load_requirements` reads the committed index (for tools such as the conformance kit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

STRENGTHS = ("MUST NOT", "MUST", "SHOULD NOT", "SHOULD", "MAY")

#: chapter file stem prefix (``NN``) -> the ID prefixes that chapter may use
CHAPTER_PREFIXES: dict[str, tuple[str, ...]] = {
    "01": ("VER",),
    "02": ("WIRE",),
    "03": ("JRN",),
    "04": ("DISC",),
    "05": ("ING",),
    "06": ("ADM",),
    "07": ("ERR",),
}

ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[1-9][0-9]*$")
# A marker: **[ID] STRENGTH** ; captured loosely so that malformed ones can be reported.
MARKER_RE = re.compile(r"\*\*\[([^\]\n]*)\]\s*([A-Za-z ]*?)\*\*")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ITEM_START_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
FENCE_RE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    strength: str
    chapter: str
    section: str
    text: str


class SpecIndexError(Exception):
    """The spec's requirement markers are malformed, duplicated or the index is stale."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _candidates() -> Iterator[Path]:
    env = os.environ.get("DURABLE_SPEC_DIR")
    if env:
        yield Path(env)
    yield Path(__file__).resolve().parent.parent / "spec"
    yield Path(sys.prefix) / "share" / "durable" / "spec"


@cache
def spec_dir() -> Path:
    """The ``spec/`` directory (the repository's, or ``$DURABLE_SPEC_DIR``)."""
    for p in _candidates():
        if (p / "README.md").is_file() or (p / "requirements.json").is_file():
            return p
    raise FileNotFoundError("spec/ not found (set DURABLE_SPEC_DIR)")


def chapter_files(root: Path) -> list[Path]:
    """The numbered chapters ``NN-*.md``, in order."""
    return sorted(p for p in root.glob("*.md") if re.match(r"^\d\d-", p.name))


def _paragraphs(lines: Sequence[str]) -> Iterator[tuple[str, int, str]]:
    """Yield (section, first line number, text) for each paragraph or list item."""
    section = ""
    buf: list[str] = []
    start = 0
    in_fence = False

    def flush() -> Iterator[tuple[str, int, str]]:
        if buf:
            yield section, start, " ".join(s.strip() for s in buf)
        buf.clear()

    for no, line in enumerate(lines, start=1):
        if FENCE_RE.match(line):
            yield from flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        h = HEADING_RE.match(line)
        if h:
            yield from flush()
            section = h.group(2).strip()
            continue
        if not line.strip() or line.lstrip().startswith("|"):
            yield from flush()
            if line.lstrip().startswith("|"):
                yield section, no, line.strip()
            continue
        if ITEM_START_RE.match(line):
            yield from flush()
        if not buf:
            start = no
        buf.append(line)
    yield from flush()


def _clean(text: str) -> str:
    text = ITEM_START_RE.sub("", text, count=1)
    return re.sub(r"\s+", " ", text).strip()


def parse_chapter(path: Path) -> tuple[list[Requirement], list[str]]:
    """Requirements of one chapter, and the problems found in it."""
    chapter = path.stem
    allowed = CHAPTER_PREFIXES.get(chapter[:2])
    reqs: list[Requirement] = []
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for section, lineno, para in _paragraphs(lines):
        markers = list(MARKER_RE.finditer(para))
        where = f"{path.name}:{lineno}"
        if len(markers) > 1:
            problems.append(f"{where}: more than one requirement marker in one paragraph/item")
        for mk in markers:
            rid, strength = mk.group(1).strip(), mk.group(2).strip()
            if not ID_RE.match(rid):
                problems.append(f"{where}: malformed requirement id {rid!r}")
                continue
            if strength not in STRENGTHS:
                problems.append(f"{where}: {rid}: strength must be one of {', '.join(STRENGTHS)}, got {strength!r}")
                continue
            if allowed is not None and rid.split("-", 1)[0] not in allowed:
                problems.append(f"{where}: {rid}: chapter {chapter} uses prefixes {', '.join(allowed)}")
            text = _clean(para[: mk.start()] + para[mk.end() :])
            if not text:
                problems.append(f"{where}: {rid} has no text")
            reqs.append(Requirement(rid, strength, chapter, section, text))
        if not markers and "**[" in para:
            problems.append(f"{where}: something that looks like a requirement marker is malformed")
    return reqs, problems


def parse_spec(root: Path | None = None) -> list[Requirement]:
    """Every requirement of every chapter; raises :class:`SpecIndexError` on problems."""
    root = root or spec_dir()
    reqs: list[Requirement] = []
    problems: list[str] = []
    for path in chapter_files(root):
        found, bad = parse_chapter(path)
        reqs.extend(found)
        problems.extend(bad)
    seen: dict[str, str] = {}
    prefix_owner: dict[str, str] = {}
    for r in reqs:
        if r.id in seen:
            problems.append(f"duplicate requirement id {r.id} (in {seen[r.id]} and {r.chapter})")
        seen.setdefault(r.id, r.chapter)
        prefix = r.id.split("-", 1)[0]
        owner = prefix_owner.setdefault(prefix, r.chapter)
        if owner != r.chapter:
            problems.append(f"prefix {prefix}- is used by {owner} and {r.chapter}")
    problems.extend(_dangling_references(root, set(seen), set(prefix_owner)))
    if problems:
        raise SpecIndexError(problems)
    return reqs


def _dangling_references(root: Path, ids: set[str], prefixes: set[str]) -> list[str]:
    """References to requirement IDs (of a known prefix) that no chapter defines."""
    if not prefixes:
        return []
    ref_re = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, prefixes))) + r")(?:-[A-Z0-9]+)*-[0-9]+\b")
    out: list[str] = []
    for path in [*chapter_files(root), root / "README.md"]:
        if not path.is_file():
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for mt in ref_re.finditer(line):
                if mt.group(0) not in ids:
                    out.append(f"{path.name}:{lineno}: reference to undefined requirement {mt.group(0)}")
    return out


def render(reqs: Sequence[Requirement]) -> str:
    return json.dumps([asdict(r) for r in reqs], indent=2, ensure_ascii=False) + "\n"


def index_path(root: Path | None = None) -> Path:
    return (root or spec_dir()) / "requirements.json"


def load_requirements(root: Path | None = None) -> list[Requirement]:
    """The committed index ``spec/requirements.json``."""
    data = json.loads(index_path(root).read_text(encoding="utf-8"))
    return [Requirement(**item) for item in data]


def check(root: Path | None = None) -> None:
    """Raise :class:`SpecIndexError` if the committed index differs from the chapters."""
    expected = render(parse_spec(root))
    path = index_path(root)
    actual = path.read_text(encoding="utf-8") if path.is_file() else ""
    if actual != expected:
        raise SpecIndexError([f"{path} is stale: run `python -m durable.spec_index`"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m durable.spec_index", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if spec/requirements.json is stale")
    parser.add_argument("--spec-dir", type=Path, default=None, help="the spec/ directory")
    args = parser.parse_args(argv)
    root: Path | None = args.spec_dir
    try:
        if args.check:
            check(root)
            print(f"{index_path(root)}: up to date ({len(parse_spec(root))} requirements)")
        else:
            reqs = parse_spec(root)
            index_path(root).write_text(render(reqs), encoding="utf-8")
            print(f"wrote {index_path(root)} ({len(reqs)} requirements)")
    except SpecIndexError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
