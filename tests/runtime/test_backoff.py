"""Exponential backoff: growth, ceiling, jitter bounds, reset."""

from __future__ import annotations

import random

import pytest

from edge_agent.runtime.backoff import Backoff


def test_grows_to_ceiling_without_jitter() -> None:
    """Delays multiply until the ceiling, then stay there."""
    b = Backoff(initial=1.0, maximum=10.0, multiplier=2.0, randomization_factor=0.0)
    assert [b.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_randomized_within_factor() -> None:
    """With factor f each delay lies in [(1-f)b, (1+f)b]."""
    b = Backoff(initial=4.0, maximum=4.0, randomization_factor=0.5, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(200)]
    assert min(delays) >= 2.0
    assert max(delays) <= 6.0
    assert max(delays) - min(delays) > 3.0


def test_full_jitter_within_zero_and_backoff() -> None:
    """Full jitter draws uniformly from [0, backoff]."""
    b = Backoff(initial=8.0, maximum=8.0, full_jitter=True, rng=random.Random(5))
    delays = [b.next_delay() for _ in range(200)]
    assert 0.0 <= min(delays) < 1.0
    assert 7.0 < max(delays) <= 8.0


def test_reset_and_overflow() -> None:
    """reset() restarts the sequence; thousands of failures never overflow."""
    b = Backoff(initial=1.0, maximum=30.0, multiplier=1.5, randomization_factor=0.0)
    for _ in range(5000):
        b.next_delay()
    assert b.next_delay() == 30.0
    b.reset()
    assert b.next_delay() == 1.0


def test_rejects_inconsistent_bounds() -> None:
    """An initial delay above the maximum is refused."""
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=5.0, maximum=1.0)
