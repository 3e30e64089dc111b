"""Poll timing: jittered heartbeat, backoff on failure, Retry-After and the 30 s throttling floor."""

from __future__ import annotations

import random

from edge_agent.fleet.timing import FAILURE_MAX, THROTTLE_MIN, PollTiming


def test_success_waits_the_interval_with_jitter() -> None:
    """After success the wait is within [1-j, 1+j] x interval, and spread out."""
    timing = PollTiming(0.2, random.Random(1))
    waits = [timing.after_success(30.0) for _ in range(200)]
    assert min(waits) >= 24.0 and max(waits) <= 36.0
    assert max(waits) - min(waits) > 6.0


def test_failures_back_off_and_success_resets() -> None:
    """Consecutive failures grow the wait up to the cap; a success starts over."""
    timing = PollTiming(0.0, random.Random(2))
    waits = [timing.after_failure() for _ in range(12)]
    assert max(waits) <= FAILURE_MAX
    assert max(waits[8:]) > 60  # it did grow (full jitter: any one draw can be small)
    assert timing.consecutive_failures == 12
    timing.after_success(30.0)
    assert timing.consecutive_failures == 0
    assert timing.after_failure() <= 5.0


def test_throttle_honours_retry_after_else_thirty_seconds() -> None:
    """Retry-After wins exactly; without it the wait is at least the spec's 30 s."""
    timing = PollTiming(0.0, random.Random(3))
    assert timing.after_throttle(7.5) == 7.5
    assert all(timing.after_throttle(None) >= THROTTLE_MIN for _ in range(10))
