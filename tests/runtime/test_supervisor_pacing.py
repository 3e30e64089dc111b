"""Scheduler timing under adaptive pacing, jitter spread across many instances, on MockClock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio
import trio.testing

from edge_agent import Fragment, PluginContext, Scraper
from tests.runtime.supervisor_harness import Harness, Ticker


@dataclass(frozen=True)
class Pace:
    interval: float
    shed: bool = False


class FakePacer:
    """A pacer driven by the test."""

    def __init__(self, interval: float) -> None:
        self.pace = Pace(interval)
        self._changed = trio.Event()
        self.seen: list[int] = []

    def current(self) -> Pace:
        return self.pace

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def scraped(self, fragments: Sequence[Fragment]) -> None:
        self.seen.append(sum(f.records for f in fragments))

    def set(self, interval: float, shed: bool = False) -> None:
        self.pace = Pace(interval, shed)
        self._changed.set()
        self._changed = trio.Event()


async def test_shorter_pace_wakes_a_sleeping_runner(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A runner asleep on a 60 s interval scrapes at last + 5 s as soon as the pace drops to 5 s,
    then every 5 s; a longer pace spaces scrapes out from the last one."""
    h = Harness(tmp_path)
    pacer = FakePacer(60.0)
    ticker = Ticker()
    runner = h.runner(ticker, "t", interval=60.0, pacer=pacer)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(30)
        pacer.set(5.0)
        await trio.sleep(11)  # t = 41
        pacer.set(20.0)
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert [t - start for t in ticker.times] == [0.0, 30.0, 35.0, 40.0, 60.0, 80.0, 100.0]
    assert runner.status.interval_s == 20.0
    assert pacer.seen == [1] * 7


async def test_shed_pace_skips_ticks_and_counts_them(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """While shed, ticks pass without scraping, each counted as skipped with reason shed."""
    h = Harness(tmp_path)
    pacer = FakePacer(10.0)
    ticker = Ticker()
    runner = h.runner(ticker, "t", pacer=pacer)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(5)
        pacer.set(30.0, shed=True)
        await trio.sleep(100)
        pacer.set(10.0)
        await trio.sleep(14)
        nursery.cancel_scope.cancel()
    # the first tick, then two after the shed ended: at once (105) and back on the 10 s grid (110)
    assert ticker.times == [0.0, 105.0, 110.0]
    shed = h.instruments.plugins.skipped.value(plugin="t", reason="shed")
    assert shed == 3  # ticks at 30, 60, 90
    assert runner.status.skipped_ticks == 3


async def test_overrun_under_pacing_skips_and_never_piles_up(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """An async scrape that overruns its paced interval is cut off; the ticks it covered are not
    replayed afterwards (the next scrape is on the grid, once)."""

    class Stall(Scraper[None]):
        name = "stall"

        def __init__(self) -> None:
            super().__init__(None)
            self.starts: list[float] = []

        async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
            self.starts.append(trio.current_time())
            if len(self.starts) == 2:
                await trio.sleep(100)  # longer than the interval: cut off
            return []

    h = Harness(tmp_path)
    stall = Stall()
    runner = h.runner(stall, "s", interval=10.0, pacer=FakePacer(10.0))
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(45)
        nursery.cancel_scope.cancel()
    offsets = [t - start for t in stall.starts]
    assert offsets[:2] == [0.0, 10.0]
    assert len(offsets) == len(set(offsets))  # no burst of catch-up scrapes at one instant
    assert runner.status.errors == 1


async def test_jitter_spreads_a_fleet_over_the_interval(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """200 instances started at the same instant with jitter = interval scrape spread over the whole
    interval: no second holds more than 5 % of them, every tenth of the interval gets some."""
    h = Harness(tmp_path)
    tickers = [Ticker() for _ in range(200)]
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i, ticker in enumerate(tickers):
            await nursery.start(h.runner(ticker, f"t{i}", interval=60.0, jitter=60.0, seed=i).run)
        await trio.sleep(61)
        nursery.cancel_scope.cancel()
    firsts = [t.times[0] - start for t in tickers]
    assert all(0 <= f < 60 for f in firsts)
    per_second: dict[int, int] = {}
    for f in firsts:
        per_second[int(f)] = per_second.get(int(f), 0) + 1
    assert max(per_second.values()) <= 10
    assert {int(f // 6) for f in firsts} == set(range(10))
    # and the phase is kept: every instance's second scrape is exactly one interval later
    assert all(t.times[1] - t.times[0] == 60.0 for t in tickers if len(t.times) > 1)
