"""Every benchmark and tool script still starts: --help runs without an import error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SCRIPTS = sorted(
    p for p in ROOT.glob("tools/**/*.py") if not p.name.startswith("_") and "ArgumentParser(" in p.read_text()
)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_help(script: Path) -> None:
    """The script imports cleanly and answers --help (catches benchmarks broken by API changes)."""
    result = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower()
