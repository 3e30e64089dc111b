"""Bandwidth caps: token bucket with debt, daily budget, both combined."""

from __future__ import annotations

import pytest

from edge_agent.export.bandwidth import DAY, DailyBudget, Shaper, ShaperStats, TokenBucket


@pytest.mark.parametrize(
    ("charges", "check_at", "expected_delay"),
    [
        ([(0, 500)], 0, 0.0),  # within the burst
        ([(0, 1000)], 0, 0.0),  # exactly the burst: tokens 0, still allowed
        ([(0, 1500)], 0, 0.5),  # 500 bytes of debt at 1000 B/s
        ([(0, 1500)], 0.25, 0.25),  # refilled while waiting
        ([(0, 1500)], 0.5, 0.0),
        ([(0, 5000)], 1.0, 3.0),  # a batch bigger than the burst goes, then pays back
        ([(0, 1000), (10, 1000)], 10, 0.0),  # refill is capped at the burst
        ([(0, 1000), (0.5, 1000)], 0.5, 0.5),
    ],
)
def test_token_bucket_delay(charges: list[tuple[float, int]], check_at: float, expected_delay: float) -> None:
    """The wait after a sequence of charges pays back exactly the debt at the configured rate."""
    bucket = TokenBucket(rate=1000, capacity=1000)
    for when, size in charges:
        bucket.charge(when, size)
    assert bucket.delay(check_at) == pytest.approx(expected_delay)


def test_token_bucket_long_run_rate_is_exact() -> None:
    """Sending as fast as allowed for 100 s moves rate x 100 s + burst, give or take a batch of debt."""
    bucket = TokenBucket(rate=10_000, capacity=20_000)
    now, sent, batch = 0.0, 0, 7_777
    while True:
        now += bucket.delay(now)
        if now > 100:
            break
        bucket.charge(now, batch)
        sent += batch
    assert 10_000 * 100 + 20_000 - batch <= sent <= 10_000 * 100 + 20_000 + batch


def test_daily_budget_blocks_until_the_window_ends() -> None:
    """The charge crossing the budget is allowed; then nothing until 24 h after the first charge."""
    budget = DailyBudget(limit=1000)
    budget.charge(100.0, 600)
    assert budget.delay(100.0) == 0
    budget.charge(200.0, 600)  # crosses the limit: allowed
    assert budget.delay(200.0) == pytest.approx(DAY - 100.0)
    assert budget.delay(100.0 + DAY) == 0
    assert budget.remaining(100.0 + DAY) == 1000


def test_daily_budget_window_stays_aligned_after_idle_days() -> None:
    """After days without traffic the window restarts on the original daily boundary."""
    budget = DailyBudget(limit=10)
    budget.charge(50.0, 10)
    assert budget.delay(50.0 + 3.5 * DAY) == 0
    budget.charge(50.0 + 3.5 * DAY, 10)
    assert budget.delay(50.0 + 3.5 * DAY) == pytest.approx(0.5 * DAY)


def test_shaper_waits_for_the_stricter_cap() -> None:
    """With both caps the delay is the longer of the two; unlimited caps never delay."""
    shaper = Shaper.create(per_second=100, burst=100, per_day=150)
    shaper.charge(0.0, 200)
    assert shaper.delay(0.0) == pytest.approx(DAY)
    assert Shaper.create(0, 0, 0).is_unlimited()
    free = Shaper.create(0, 0, 0)
    free.charge(0.0, 10**12)
    assert free.delay(0.0) == 0
    assert free.statistics(0.0).charged_bytes == 10**12


def test_refund_gives_back_unsent_bytes() -> None:
    """A charge refunded (the connection failed before sending) no longer delays anyone."""
    shaper = Shaper.create(per_second=1000, burst=1000, per_day=5000)
    shaper.charge(0.0, 3000)
    assert shaper.delay(0.0) == pytest.approx(2.0)
    shaper.refund(0.0, 3000)
    assert shaper.delay(0.0) == 0
    assert shaper.statistics(0.0) == ShaperStats(0, 0, 5000)
