"""The guides' code works as written: the pytest-fixture guide's ``conftest.py`` and
``test_signup.py`` are extracted from docs/guides/pytest.md and run in a fresh directory, the
way a reader would paste them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def code_blocks(page: Path) -> dict[str, str]:
    """``python title="NAME"`` fenced blocks of a page, by title."""
    text = page.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r'```python title="([^"]+)"\n(.*?)```', text, re.S)}


def test_pytest_fixture_guide_runs(tmp_path: Path) -> None:
    blocks = code_blocks(REPO / "docs" / "guides" / "pytest.md")
    assert set(blocks) == {"conftest.py", "test_signup.py"}
    for name, code in blocks.items():
        (tmp_path / name).write_text(code)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
