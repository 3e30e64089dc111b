"""``edge-agent buffer stats|verify|dump`` read a real buffer and never change it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE
from edge_agent.cli import main
from edge_agent.otlp.fragment import Priority
from tests.buffer.helpers import log_fragment, segment_files, write


@pytest.fixture
def buffer_dir(tmp_path: Path) -> Path:
    """A buffer with 2 frames of normal logs and 1 of critical logs, written by the real buffer."""
    directory = tmp_path / "buf"
    fragments = [
        log_fragment(range(3)),
        log_fragment(range(3, 5)),
        log_fragment([9], priority=Priority.CRITICAL),
    ]
    trio.run(write, directory, fragments, clock=trio.testing.MockClock(autojump_threshold=0.05))
    return directory


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_stats_shows_each_stream(buffer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """stats lists records per signal and priority, in JSON too, without touching a file."""
    before = _snapshot(buffer_dir)
    assert main(["buffer", "stats", "--dir", str(buffer_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {
        (r["signal"], r["priority"]): (r["frames"], r["records"], r["unsent_records"])
        for r in data["streams"]
    }
    assert rows == {("logs", "critical"): (1, 1, 1), ("logs", "normal"): (2, 5, 5)}
    assert main(["buffer", "stats", "--dir", str(buffer_dir)]) == 0
    assert "logs     normal" in capsys.readouterr().out
    assert _snapshot(buffer_dir) == before


def test_verify_passes_then_finds_damage(buffer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify exits 0 on an intact buffer and 1, naming the place, after a flipped byte."""
    assert main(["buffer", "verify", "--dir", str(buffer_dir)]) == 0
    assert "verify: OK" in capsys.readouterr().out
    seg = next(p for p in segment_files(buffer_dir) if "normal" in p.name)
    raw = bytearray(seg.read_bytes())
    raw[SEGMENT_HEADER_SIZE + 40] ^= 0xFF
    seg.write_bytes(bytes(raw))
    assert main(["buffer", "verify", "--dir", str(buffer_dir)]) == 1
    out = capsys.readouterr().out
    assert f"damaged: {seg.name} at {SEGMENT_HEADER_SIZE}" in out and "DAMAGE FOUND" in out


def test_dump_prints_frames_as_otlp_json(buffer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dump writes one JSON object per frame with the decoded OTLP request."""
    assert main(["buffer", "dump", "--dir", str(buffer_dir)]) == 0
    frames = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [f["records"] for f in frames] == [3, 2, 1]  # file order: the critical segment came last
    bodies = [
        rec["body"]["stringValue"]
        for f in frames
        for rl in f["request"]["resourceLogs"]
        for sl in rl["scopeLogs"]
        for rec in sl["logRecords"]
    ]
    assert sorted(bodies) == sorted(f"record {i} " for i in [0, 1, 2, 3, 4, 9])
    assert main(["buffer", "dump", "--dir", str(buffer_dir), "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_missing_directory_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong --dir is reported in one sentence with exit code 1."""
    assert main(["buffer", "stats", "--dir", str(tmp_path / "nope")]) == 1
    assert "no buffer directory at" in capsys.readouterr().err
