"""Dropped records are always counted; the log line that explains them is rate-limited per reason."""

from __future__ import annotations

import logging

import pytest

from edge_agent.buffer.droplog import DropRecorder
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.telemetry import Registry


def test_every_drop_counted_lines_limited(caplog: pytest.LogCaptureFixture) -> None:
    """100 drops in a minute: counted exactly, one line at once, then one summary line."""
    counter = Registry().counter("records.dropped", "", labels=("signal", "reason"))
    now = [0.0]
    recorder = DropRecorder(counter, logging.getLogger("test.drops"), interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.drops"):
        for i in range(100):
            now[0] = i * 0.5
            recorder.record(Signal.LOGS, "disk_budget", 3, f"evicted segment {i}")
        recorder.record(Signal.METRICS, "corrupt", 0)  # nothing lost: neither counted nor logged
        now[0] = 61.0
        recorder.record(Signal.LOGS, "disk_budget", 1)
    assert counter.value(signal="logs", reason="disk_budget") == 301
    assert counter.value(signal="metrics", reason="corrupt") == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "3 logs" in lines[0] and "buffer.max_disk_bytes was reached" in lines[0]
    assert "298 logs" in lines[1] and "summed over the last 60s" in lines[1]
