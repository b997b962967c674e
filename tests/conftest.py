"""Suite-wide policy: in CI (``DURABLE_FORBID_SKIPS=1``) a skipped test fails the run.

Tests that need a browser, mkdocs or the real Restate skip with a reason on a machine that
lacks them; CI installs all of them, so there a skip would only hide a check that did not run.
"""

from __future__ import annotations

import os

import pytest

FORBID_SKIPS = "DURABLE_FORBID_SKIPS"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get(FORBID_SKIPS) == "1" and skipped:
        terminalreporter.write_line(f"{FORBID_SKIPS}=1 and {len(skipped)} test(s) were skipped:", red=True)
        for report in skipped:
            terminalreporter.write_line(f"  {report.nodeid}: {report.longrepr}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if os.environ.get(FORBID_SKIPS) == "1" and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
