"""Aligned periodic ticks: loops of related periods wake the event loop together."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from edge_agent.runtime.clock import set_tick_origin, sleep_to_next_tick, tick_origin


@pytest.fixture(autouse=True)
def origin_zero() -> object:
    saved = tick_origin()
    set_tick_origin(0.0)
    yield
    set_tick_origin(saved)


async def test_ticks_fall_on_multiples_of_the_period(autojump_clock: trio.testing.MockClock) -> None:
    """From any start, the first tick comes at the next multiple, then one per period."""
    autojump_clock.jump(3.7)
    times = []
    for _ in range(3):
        await sleep_to_next_tick(5.0)
        times.append(trio.current_time())
    assert times == [5.0, 10.0, 15.0]


async def test_loops_with_related_periods_share_wakeups(autojump_clock: trio.testing.MockClock) -> None:
    """A 5 s and a 10 s loop started at different moments wake at the same instants."""
    seen: dict[float, list[str]] = {}

    async def loop(name: str, period: float, delay: float) -> None:
        await trio.sleep(delay)
        for _ in range(int(30 / period)):
            await sleep_to_next_tick(period)
            seen.setdefault(trio.current_time(), []).append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop, "link", 5.0, 0.3)
        nursery.start_soon(loop, "sample", 10.0, 1.9)
    assert sorted(seen[10.0]) == ["link", "sample"]
    assert sorted(seen) == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]


async def test_ticks_count_from_the_origin(autojump_clock: trio.testing.MockClock) -> None:
    """The agent sets the origin to its start: its ticks depend on that, not on the clock's epoch."""
    set_tick_origin(2.5)
    autojump_clock.jump(3.7)
    times = []
    for _ in range(2):
        await sleep_to_next_tick(5.0)
        times.append(trio.current_time())
    assert times == [7.5, 12.5]
