"""The CPU meter: the agent's CPU share over a sliding window of cumulative readings."""

from __future__ import annotations

import pytest

from edge_agent.adaptive.signals import CpuMeter, PressureSample


def test_share_needs_a_full_window() -> None:
    """No share is reported before one window of history exists (start-up must not throttle)."""
    meter = CpuMeter(window=60)
    assert meter.add(0, 1.0) is None
    assert meter.add(30, 1.3) is None
    assert meter.add(60, 1.6) == pytest.approx(0.01)


def test_window_slides() -> None:
    """Old readings leave the window: a burst of CPU long ago no longer counts."""
    meter = CpuMeter(window=60)
    cpu = 0.0
    for t in range(0, 200, 10):
        cpu += 5.0 if t < 50 else 0.1  # heavy start, then 1% of a core
        share = meter.add(t, cpu)
    assert share == pytest.approx(0.01)


def test_clock_that_did_not_move_is_ignored() -> None:
    """Two readings at the same instant carry no rate."""
    meter = CpuMeter(window=1)
    meter.add(0, 0)
    assert meter.add(0, 5) is None


def test_sample_renders_rounded() -> None:
    """A sample's dict form rounds fractions for /status."""
    assert PressureSample(at=1.0, host_cpu=0.123456).as_dict()["host_cpu"] == 0.1235
