"""The CLI and the pytest plugin end to end, against the in-process fake implementation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.testing.fake_server import FakeServer, ThreadedServer


@pytest.fixture
def fake() -> Iterator[ThreadedServer]:
    s = ThreadedServer(FakeServer())
    yield s
    s.close()


@pytest.fixture
def broken() -> Iterator[ThreadedServer]:
    s = ThreadedServer(FakeServer(rerun_steps=True))
    yield s
    s.close()


def durable(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "durable.cli", "conformance", *args], capture_output=True, text=True,
                          timeout=240, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.timeout(120)
def test_run_against_urls_writes_reports(fake: ThreadedServer, tmp_path: Path) -> None:
    r = durable("run", "--ingress", fake.url, "--admin", fake.url, "--only", "RUN-001", "--only", "ST-007",
                "--mode", "default", "--report", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    index = json.loads((tmp_path / "index.json").read_text())
    assert {c["id"] for c in index["cases"]} == {"RUN-001", "ST-007"}
    assert index["summary"]["PASS"] == 2
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "summary.md").exists()


@pytest.mark.timeout(120)
def test_exit_status_and_exclusions_ratchet(broken: ThreadedServer, tmp_path: Path) -> None:
    args = ["run", "--ingress", broken.url, "--admin", broken.url, "--only", "RUN-002", "--mode", "default", "--quiet"]
    r = durable(*args, "--report", str(tmp_path / "a"))
    assert r.returncode == 1, r.stdout + r.stderr
    new = tmp_path / "a" / "exclusions.new.yaml"
    assert "RUN-002" in new.read_text()
    r = durable(*args, "--report", str(tmp_path / "b"), "--exclusions", str(new))
    assert r.returncode == 0, r.stdout + r.stderr


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_mine.py").write_text("def test_mine():\n    assert True\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)


@pytest.mark.timeout(120)
def test_plugin_is_inert_by_default(tmp_path: Path) -> None:
    r = _pytest(tmp_path)
    assert r.returncode == 0, r.stdout
    assert "1 passed" in r.stdout and "conformance" not in r.stdout


@pytest.mark.timeout(120)
def test_plugin_runs_cases_as_tests(fake: ThreadedServer, broken: ThreadedServer, tmp_path: Path) -> None:
    ok = _pytest(tmp_path, "--conformance", "--conformance-only", "RUN-001", "--conformance-ingress", fake.url,
                 "--conformance-admin", fake.url)
    assert ok.returncode == 0, ok.stdout
    assert "2 passed" in ok.stdout
    bad = _pytest(tmp_path, "--conformance", "--conformance-only", "RUN-002", "--conformance-ingress", broken.url,
                  "--conformance-admin", broken.url)
    assert bad.returncode == 1, bad.stdout
    assert "effect executions" in bad.stdout and "wire log" in bad.stdout
