"""RSS does not grow with the backlog: a 1 GiB backlog costs less than 10 MiB over an empty buffer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.buffer.store import STATE_FILE

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 1024**3
MARGIN = 10 * 1024 * 1024


def _probe(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.buffer.rss_probe", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def _measure(directory: Path) -> tuple[int, int, int]:
    words = _probe("measure", str(directory), "8").split()
    return int(words[1]), int(words[3]), int(words[5])


@pytest.mark.slow
def test_rss_with_a_1_gib_backlog_stays_within_10_mib_of_empty(tmp_path: Path) -> None:
    """Opening and reading from a 1 GiB backlog (with and without cursor state) keeps RSS bounded."""
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    try:
        _probe("fill", str(full), str(BACKLOG))
        size = sum(p.stat().st_size for p in full.iterdir())
        assert size >= BACKLOG
        base_rss, base_peak, _ = _measure(empty)
        rss, peak, records = _measure(full)
        assert records > 4000, "the backlog is really there"
        assert rss - base_rss < MARGIN, f"RSS {rss - base_rss} bytes over empty with state"
        assert peak - base_peak < MARGIN, f"peak RSS {peak - base_peak} bytes over empty with state"
        (full / STATE_FILE).unlink()  # worst case: every segment rescanned on start
        rss, peak, _ = _measure(full)
        assert rss - base_rss < MARGIN, f"RSS {rss - base_rss} bytes over empty after a full rescan"
        assert peak - base_peak < MARGIN, f"peak RSS {peak - base_peak} bytes over empty after a full rescan"
    finally:
        shutil.rmtree(full, ignore_errors=True)  # never leave a gigabyte behind
