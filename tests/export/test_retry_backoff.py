"""Retry backoff as the exporter configures it: exponential, capped, full or proportional jitter."""

from __future__ import annotations

import random

import pytest

from edge_agent.runtime.backoff import Backoff


def test_full_jitter_draws_within_zero_and_the_exponential_ceiling() -> None:
    """With full jitter each wait is uniform in [0, min(max, initial x multiplier^n)]."""
    backoff = Backoff(5.0, 30.0, 1.5, full_jitter=True, rng=random.Random(7))
    ceilings = [5.0, 7.5, 11.25, 16.875, 25.3125, 30.0, 30.0]
    for ceiling in ceilings:
        assert backoff.current() == pytest.approx(ceiling)
        delay = backoff.next_delay()
        assert 0.0 <= delay <= ceiling


def test_full_jitter_spreads_a_fleet() -> None:
    """Many agents failing at once do not retry in lockstep: their first waits cover the range."""
    rng = random.Random(1)
    waits = [Backoff(5.0, 30.0, 1.5, full_jitter=True, rng=rng).next_delay() for _ in range(1000)]
    assert min(waits) < 0.5
    assert max(waits) > 4.5
    assert 2.2 < sum(waits) / len(waits) < 2.8


def test_proportional_jitter_matches_the_collector_scheme() -> None:
    """Proportional jitter stays within [(1-f), (1+f)] x the backoff."""
    backoff = Backoff(5.0, 30.0, 1.5, 0.5, rng=random.Random(3))
    for ceiling in (5.0, 7.5, 11.25):
        assert ceiling * 0.5 <= backoff.next_delay() <= ceiling * 1.5


def test_reset_and_a_day_of_failures() -> None:
    """After thousands of failures the ceiling stays at max (no overflow); reset starts over."""
    backoff = Backoff(5.0, 30.0, 1.5, full_jitter=True)
    for _ in range(5000):
        backoff.next_delay()
    assert backoff.current() == 30.0
    backoff.reset()
    assert backoff.current() == 5.0
