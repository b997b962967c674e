"""Fixtures of the UI tests: headless Chromium (Debian's ``chromium``) driven by Playwright,
and one in-process stack (tests/ui/stack.py) shared by the module.

Why the system browser: ``playwright install`` downloads browsers from the internet, which CI
must not need; Playwright drives any recent Chromium through ``executable_path``. The tests
are skipped, with the reason, only when the Playwright package or the browser is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .stack import UiStack

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("DURABLE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Playwright Python package is not installed (pip install playwright)"
    if chromium_path() is None:
        return "no Chromium binary (apt-get install -y chromium, or set DURABLE_CHROMIUM)"
    return None


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where screenshots go: $DURABLE_UI_ARTIFACTS, else build/ui-artifacts (git-ignored)."""
    path = Path(os.environ.get("DURABLE_UI_ARTIFACTS") or REPO / "build" / "ui-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    with UiStack(tmp_path_factory.mktemp("ui-stack")) as s:
        yield s


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
