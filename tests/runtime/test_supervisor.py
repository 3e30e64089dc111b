"""Plugin isolation and scrape timing, on trio's MockClock."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent import BlockingScraper, Fragment, PluginContext, Receiver, Scraper
from tests.runtime.supervisor_harness import Harness, Ticker

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


class Crasher(Scraper[None]):
    name = "crasher"

    def __init__(self) -> None:
        super().__init__(None)
        self.setups: list[float] = []

    async def setup(self, ctx: PluginContext) -> None:
        self.setups.append(trio.current_time())

    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        raise RuntimeError("sensor unplugged")


async def test_scrapes_on_the_interval_grid(harness: Harness, autojump_clock: trio.testing.MockClock) -> None:
    """A scraper runs at exactly t0, t0+10, t0+20 ... and its records reach the buffer."""
    ticker = Ticker()
    runner = harness.runner(ticker, "ticker", interval=10.0)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(35)
        nursery.cancel_scope.cancel()
    assert [t - start for t in ticker.times] == [0.0, 10.0, 20.0, 30.0]
    assert runner.status.runs == 4
    assert harness.buffer.queued_records()["metrics"] == 4


async def test_crashing_plugin_restarts_with_backoff_and_others_keep_running(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    """A plugin that raises is restarted with growing delays and counted; a healthy one is unaffected."""
    crasher, ticker = Crasher(), Ticker()
    crash_runner = harness.runner(crasher, "crasher", interval=1.0)
    tick_runner = harness.runner(ticker, "ticker", interval=10.0)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(crash_runner.run)
        await nursery.start(tick_runner.run)
        await trio.sleep(95)
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(crasher.setups, crasher.setups[1:], strict=False)]
    # backoff 1, 2, 4, 8, 16, 32 s with +-50% jitter: strictly growing on average, bounded
    assert len(crasher.setups) >= 5
    assert all(g >= 0.5 for g in gaps)
    assert gaps[-1] > gaps[0]
    assert crash_runner.status.state == "backoff"
    assert crash_runner.status.errors == len(crasher.setups)
    assert crash_runner.status.last_error == "RuntimeError: sensor unplugged"
    plugins = harness.instruments.plugins
    assert plugins.restarts.value(plugin="crasher") == crash_runner.status.restarts >= 5
    assert [t - start for t in ticker.times] == [float(10 * i) for i in range(10)]


class SlowAsync(Scraper[None]):
    name = "slow"

    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        await trio.sleep(1000)
        return []


async def test_async_scrape_longer_than_interval_is_a_timeout(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    """An async scrape that outlives its interval is cancelled and counted as a failure."""
    runner = harness.runner(SlowAsync(None), "slow", interval=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(6)
        nursery.cancel_scope.cancel()
    assert runner.status.errors == 1
    assert "longer than its interval" in (runner.status.last_error or "")


class OverrunningBlocking(BlockingScraper[None]):
    name = "overrun"

    def __init__(self) -> None:
        super().__init__(None)
        self.calls = 0

    def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        self.calls += 1
        if self.calls == 2:
            # the thread blocks for 25 s of (mock) time
            trio.from_thread.run(trio.sleep, 25)
        return []


async def test_blocking_overrun_skips_ticks(
    harness: Harness, thread_safe_clock: trio.testing.MockClock
) -> None:
    """A blocking scrape that overruns skips the ticks it covered instead of piling them up."""
    plugin = OverrunningBlocking()
    runner = harness.runner(plugin, "overrun", interval=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(59)
        nursery.cancel_scope.cancel()
    # runs at 0, 10 (ends 35: ticks 20 and 30 skipped), 40, 50
    assert plugin.calls == 4
    assert runner.status.skipped_ticks == 2
    assert harness.instruments.plugins.skipped.value(plugin="overrun", reason="overrun") == 2


class FlakyReceiver(Receiver[None]):
    name = "flaky"

    def __init__(self) -> None:
        super().__init__(None)
        self.starts = 0

    async def run(self, ctx: PluginContext, *, task_status: trio.TaskStatus[None]) -> None:
        self.starts += 1
        task_status.started()
        b = ctx.logs()
        b.record(f"start {self.starts}")
        await ctx.emit(b.build())
        await trio.sleep(3)
        raise ConnectionResetError("socket went away")


async def test_receiver_restarted_after_failure(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    """A receiver that dies is restarted; what it emitted before dying stays in the buffer."""
    receiver = FlakyReceiver()
    runner = harness.runner(receiver, "flaky")
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert receiver.starts >= 3
    assert runner.status.errors >= 2
    assert harness.buffer.queued_records()["logs"] == receiver.starts


class SetupFails(BlockingScraper[None]):
    name = "nosensor"

    def setup(self, ctx: PluginContext) -> None:
        raise FileNotFoundError("/sys/class/thermal missing")

    def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        raise AssertionError("never reached")


async def test_failing_setup_does_not_block_start(
    harness: Harness, thread_safe_clock: trio.testing.MockClock
) -> None:
    """nursery.start returns even when the plugin fails before it is ready."""
    runner = harness.runner(SetupFails(None), "nosensor")
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        assert runner.status.state == "backoff"
        nursery.cancel_scope.cancel()


class CrashesUntilFixed(Scraper[None]):
    name = "until_fixed"

    def __init__(self) -> None:
        super().__init__(None)
        self.fixed = False

    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        if not self.fixed:
            raise RuntimeError("sensor unplugged")
        b = ctx.metrics()
        b.gauge("t", 1)
        return [b.build()]


async def test_repeated_failures_are_summarized_then_recovery_logged(
    harness: Harness, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A plugin failing for 25 minutes logs its first failure, a summary every 10 minutes and,
    once it works again, one recovery line; the retries in between are debug only."""
    import logging
    import re

    plugin = CrashesUntilFixed()
    runner = harness.runner(plugin, "sensor", interval=10.0)
    with caplog.at_level(logging.INFO, logger="edge_agent.supervisor"):
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            await trio.sleep(25 * 60)
            plugin.fixed = True
            await trio.sleep(10 * 60)
            nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records]
    first, *summaries, recovered = lines
    assert re.fullmatch(r"plugin sensor failed: RuntimeError: sensor unplugged; restarting in [\d.]+s", first)
    # restarts back off to 5 min, so a summary comes with the first failure 10 min after the last line
    assert 1 <= len(summaries) <= 2, lines
    for line in summaries:
        assert re.fullmatch(
            r"plugin sensor still failing after \d+m \(\d+ failures; last: RuntimeError: sensor unplugged\); "
            r"next restart in \d+s",
            line,
        )
    assert re.fullmatch(
        rf"plugin sensor recovered after {runner.status.errors} failure\(s\) over [23]\dm", recovered
    )
    assert runner.status.errors > len(lines)  # the other failures were not logged at info level


async def test_runner_keeps_its_liveness_promises(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    """Healthy ticking and crash-restart backoff both keep the runner's promises: never stalled."""
    from edge_agent.runtime.liveness import Liveness, StageProbe

    liveness = Liveness(grace=1.0)
    ticker = harness.runner(Ticker(), "ticker", interval=10.0)
    crasher = harness.runner(Crasher(), "crasher", interval=1.0)
    ticker.probe = StageProbe(liveness, "plugin ticker", trio.current_time)
    crasher.probe = StageProbe(liveness, "plugin crasher", trio.current_time)
    async with trio.open_nursery() as nursery:
        await nursery.start(ticker.run)
        await nursery.start(crasher.run)
        assert liveness.stages() == ["plugin crasher", "plugin ticker"]
        for _ in range(2 * 3600):
            await trio.sleep(0.5)
            assert liveness.check(trio.current_time()).live
        nursery.cancel_scope.cancel()
    assert liveness.stages() == []  # stopped runners are forgotten


def test_errors_inside_exception_groups_are_described() -> None:
    """A plugin's nursery wraps its error in a group; the status names the error itself."""
    from edge_agent.runtime.supervisor import describe_error

    group = ExceptionGroup("nursery", [OSError(98, "Address already in use"), ValueError("bad")])
    assert describe_error(group) == "OSError: [Errno 98] Address already in use; ValueError: bad"
    assert describe_error(RuntimeError("x")) == "RuntimeError: x"
