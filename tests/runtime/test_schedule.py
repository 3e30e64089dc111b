"""Tick arithmetic: phase-aligned, jittered phase, overruns skipped and counted."""

from __future__ import annotations

import random

import pytest

from edge_agent.runtime.schedule import TickSchedule


@pytest.mark.parametrize(
    ("finished_offsets", "expected"),
    [
        # scrape durations well inside the interval: no drift, nothing skipped
        ([0.1, 10.3, 20.9], [(10.0, 0), (20.0, 0), (30.0, 0)]),
        # one scrape overruns by 2.5 intervals: two ticks skipped, grid kept
        ([25.0], [(30.0, 2)]),
        # finishing exactly on the next tick counts that tick as missed
        ([10.0], [(20.0, 1)]),
    ],
)
def test_after_run(finished_offsets: list[float], expected: list[tuple[float, int]]) -> None:
    """The next due time stays on the interval grid and overrun ticks are counted, not queued."""
    schedule = TickSchedule(10.0)
    assert schedule.first(0.0) == 0.0
    got = []
    for finished in finished_offsets:
        decision = schedule.after_run(finished)
        got.append((decision.due, decision.skipped))
    assert got == expected


def test_ticks_share_a_grid_whatever_the_start() -> None:
    """After the first (immediate) tick, schedules started at different times tick on the same
    instants, and a 60 s schedule's ticks are a subset of a 10 s one's: one wake-up serves all."""

    def ticks(interval: float, start: float, n: int) -> list[float]:
        schedule = TickSchedule(interval)
        due = [schedule.first(start)]
        for _ in range(n):
            due.append(schedule.after_run(due[-1] + 0.01).due)
        return due

    fast, late, slow = ticks(10.0, 3.7, 12), ticks(10.0, 8.2, 12), ticks(60.0, 1.1, 2)
    assert fast[0] == 3.7 and late[0] == 8.2  # the first tick is not delayed to the grid
    assert fast[1:4] == [10.0, 20.0, 30.0]
    assert set(late[1:]) <= set(fast[1:])
    assert slow[1:] == [60.0, 120.0] and set(slow[1:]) <= set(fast[1:] + late[1:])


def test_jitter_spreads_phase_within_bounds() -> None:
    """Random phases are within [0, jitter) and spread out (no thundering herd)."""
    phases = [
        TickSchedule(60.0, jitter=30.0, rng=random.Random(seed)).first(100.0) - 100.0 for seed in range(400)
    ]
    assert all(0.0 <= p < 30.0 for p in phases)
    # a roughly uniform spread: every 5 s bucket gets some devices
    buckets = {int(p // 5) for p in phases}
    assert buckets == set(range(6))


def test_jitter_capped_at_interval() -> None:
    """A jitter larger than the interval is capped to one interval."""
    schedule = TickSchedule(1.0, jitter=50.0, rng=random.Random(1))
    assert 0.0 <= schedule.first(0.0) < 1.0


def test_retime_applies_from_next_tick() -> None:
    """Changing the interval moves the next due time by the new interval."""
    schedule = TickSchedule(10.0)
    schedule.first(0.0)
    schedule.retime(5.0)
    assert schedule.after_run(1.0).due == 5.0


def test_invalid_interval() -> None:
    """Zero or negative intervals are programming errors."""
    with pytest.raises(ValueError, match="positive"):
        TickSchedule(0)


def test_retime_with_now_moves_the_pending_tick() -> None:
    """A shorter interval brings the pending tick forward (never into the past); a longer one
    pushes it back from the last tick; before the first tick the jittered phase is kept."""
    jittered = TickSchedule(10.0, jitter=5.0, rng=random.Random(4))
    phase = jittered.first(0.0)
    assert jittered.retime(2.0, now=0.0) == phase  # not run yet: the first due time is kept
    schedule = TickSchedule(10.0)
    schedule.first(0.0)
    assert schedule.after_run(0.5).due == 10.0
    assert schedule.retime(2.5, now=1.0) == 2.5
    assert schedule.retime(1.0, now=3.0) == 3.0  # 0 + 1 is past: now
    assert schedule.retime(40.0, now=3.5) == 40.0
    assert schedule.after_run(40.1).due == 80.0
