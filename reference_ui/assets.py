"""Map request paths to the UI's static files.

Why a fixed table rather than a directory lookup: only the files shipped in ``static/`` can
ever be served, whatever the path (no traversal, no symlinks, no surprises from a data dir).
Files are read once per process; they are small and immutable for a given install.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

#: the UI lives under this prefix; ``/`` is an alias of its index page
PREFIX = "/ui"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

# The page talks only to its own origin and loads nothing from elsewhere.
_CSP = (
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; style-src 'self'; "
    "script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file as an HTTP answer (always status 200)."""

    name: str
    body: bytes
    content_type: str

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> dict[str, str]:
        return {
            "content-type": self.content_type,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "content-security-policy": _CSP,
        }


@cache
def _table() -> dict[str, Asset]:
    root = resources.files(__package__ or "reference_ui").joinpath("static")
    table: dict[str, Asset] = {}
    for item in root.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
        if item.is_file() and suffix in _TYPES:
            table[item.name] = Asset(item.name, item.read_bytes(), _TYPES[suffix])
    return table


def asset_names() -> list[str]:
    """The names of the files the UI serves (under ``/ui/``)."""
    return sorted(_table())


def resolve(path: str) -> Asset | None:
    """The asset for a request path (query string excluded), or ``None`` if it is not the UI's.

    ``/``, ``/ui`` and ``/ui/`` are the index page; ``/ui/<name>`` is a shipped file.
    """
    if path in ("/", "", PREFIX, PREFIX + "/"):
        return _table().get("index.html")
    if path.startswith(PREFIX + "/"):
        name = path[len(PREFIX) + 1 :]
        if "/" not in name:
            return _table().get(name)
    return None


def is_ui_path(path: str) -> bool:
    """Whether a path belongs to the UI's URL space (even if no file matches it)."""
    return path in ("/", "", PREFIX) or path.startswith(PREFIX + "/")
