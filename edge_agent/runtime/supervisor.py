"""Runs one plugin instance, isolated: a failing plugin is restarted, never fatal.

Theory of operation: each instance runs in its own task under the agent's
plugin nursery. Any ``Exception`` out of ``setup``/``scrape``/``run`` is
counted, logged as one line (traceback at debug level), and the instance is
restarted after an exponential backoff (1 s doubling to 5 min, jittered);
a successful scrape resets the backoff. ``trio.Cancelled`` is never caught:
cancellation is how the agent stops plugins.

Scrapers tick on a :class:`~edge_agent.runtime.schedule.TickSchedule`. An
async scrape that outlives its interval is cancelled and counted as a
timeout; a blocking scrape cannot be interrupted, so ticks it overruns are
skipped and counted instead.

Adaptive scheduling: a runner may get a :class:`Pacer` (the adaptive
controller's handle). Its effective interval then comes from the pacer and
can change between ticks; a runner asleep on the old interval wakes on the
change and re-times (:meth:`TickSchedule.retime`), so a burst starts at
once. A *shed* pace skips the tick (counted with reason ``shed``). Scraped
fragments are shown to the pacer (anomaly detection) before they are buffered.

Liveness: before every step the runner promises progress to its
:class:`~edge_agent.runtime.liveness.StageProbe` (a scrape within its
interval, a sleep until the next tick, a restart backoff); a blocking
scrape hung in its worker thread breaks that promise, and the agent stops
feeding the systemd watchdog. Receivers run event-driven and count as idle.
Repeated failures are logged through a
:class:`~edge_agent.runtime.ratelimit.RepeatLimiter`: the first in full,
then a summary every ten minutes, then one line on recovery.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from edge_agent.otlp.fragment import Fragment
from edge_agent.plugin_api import BlockingScraper, Plugin, Receiver, Scraper
from edge_agent.runtime.backoff import Backoff
from edge_agent.runtime.clock import tick_origin
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.liveness import NullProbe, StageProbe
from edge_agent.runtime.ratelimit import RepeatLimiter, ReportKind
from edge_agent.runtime.schedule import TickSchedule
from edge_agent.runtime.telemetry import Counter, Histogram

log = logging.getLogger("edge_agent.supervisor")


class Pace(Protocol):
    @property
    def interval(self) -> float: ...

    @property
    def shed(self) -> bool: ...


class Pacer(Protocol):
    """How the adaptive controller steers one scraper."""

    def current(self) -> Pace: ...

    async def wait_changed(self) -> None:
        """Return when the pace changed."""
        ...

    def scraped(self, fragments: Sequence[Fragment]) -> None:
        """Fragments of one scrape, before they are buffered."""
        ...


@dataclass
class PluginStatus:
    """Live state of one instance, shown by ``/status`` and ``edge-agent status``."""

    name: str
    type: str
    kind: str
    state: str = "starting"  # starting | running | backoff
    runs: int = 0
    errors: int = 0
    restarts: int = 0
    skipped_ticks: int = 0
    last_run_unix: float | None = None
    last_duration_s: float | None = None
    last_error: str | None = None
    interval_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PluginCounters:
    runs: Counter  # plugin, outcome
    restarts: Counter  # plugin
    skipped: Counter  # plugin, reason
    duration: Histogram  # plugin
    events: Counter  # plugin, event (counted by plugins through ctx.count)


@dataclass
class PluginRunner:
    plugin: Plugin[Any]
    ctx: RuntimeContext
    status: PluginStatus
    counters: PluginCounters
    interval: float = 10.0
    jitter: float = 0.0
    restart_backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=1.0, maximum=300.0, multiplier=2.0, full_jitter=False)
    )
    rng: random.Random = field(default_factory=random.Random)
    probe: StageProbe = field(default_factory=NullProbe)
    failures: RepeatLimiter = field(default_factory=RepeatLimiter)
    pacer: Pacer | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the instance forever; report started once it is ready or has failed once."""
        ready = _StartOnce(task_status, on_started=self._recovered)
        try:
            while True:
                try:
                    if isinstance(self.plugin, Receiver):
                        self.probe.idle()  # event-driven: nothing to promise
                        await self.plugin.run(self.ctx, task_status=ready)
                        raise RuntimeError("receiver returned; receivers must run until cancelled")
                    await self._run_scraper(ready)
                except Exception as exc:  # plugin isolation: any plugin error is contained here
                    ready.release()  # a failing plugin must not hold up the agent's start
                    await self._after_failure(exc)
        finally:
            self.probe.forget()

    async def _after_failure(self, exc: BaseException) -> None:
        delay = self.restart_backoff.next_delay()
        self.status.state = "backoff"
        self.status.errors += 1
        self.status.restarts += 1
        self.status.last_error = describe_error(exc)
        self.counters.runs.inc(plugin=self.status.name, outcome="error")
        self.counters.restarts.inc(plugin=self.status.name)
        self._log_failure(delay)
        log.debug("plugin %s traceback", self.status.name, exc_info=exc)
        self.probe.expect(delay, "restart backoff")
        await trio.sleep(delay)

    def _log_failure(self, delay: float) -> None:
        report = self.failures.failure(trio.current_time())
        name, error = self.status.name, self.status.last_error
        if report.kind is ReportKind.FIRST:
            log.error("plugin %s failed: %s; restarting in %.1fs", name, error, delay)
        elif report.kind is ReportKind.SUMMARY:
            log.error(
                "plugin %s still failing after %s (%d failures; last: %s); next restart in %.0fs",
                name,
                report.lasted(),
                report.failures,
                error,
                delay,
            )
        else:
            log.debug("plugin %s failed again (%d in a row): %s", name, report.failures, error)

    def _recovered(self) -> None:
        self.status.state = "running"
        report = self.failures.success(trio.current_time())
        if report is not None:
            log.info(
                "plugin %s recovered after %d failure(s) over %s",
                self.status.name,
                report.failures,
                report.lasted(),
            )

    def _effective_interval(self) -> float:
        return self.pacer.current().interval if self.pacer is not None else self.interval

    async def _run_scraper(self, ready: _StartOnce) -> None:
        self.probe.expect(self.interval, "setup")
        if isinstance(self.plugin, BlockingScraper):
            await trio.to_thread.run_sync(self.plugin.setup, self.ctx, abandon_on_cancel=True)
        else:
            assert isinstance(self.plugin, Scraper)
            await self.plugin.setup(self.ctx)
        self.status.state = "running"
        interval = self.status.interval_s = self._effective_interval()
        ready.release()
        schedule = TickSchedule(interval, jitter=self.jitter, rng=self.rng, origin=tick_origin())
        await self._sleep_until(schedule.first(trio.current_time()), schedule)
        while True:
            if self.pacer is not None and self.pacer.current().shed:
                self.status.skipped_ticks += 1
                self.counters.skipped.inc(plugin=self.status.name, reason="shed")
            else:
                self.probe.expect(schedule.interval, "scrape")
                await self._scrape_once(schedule.interval)
                self._recovered()  # a successful scrape ends a failure episode
            self._follow_pacer(schedule)
            decision = schedule.after_run(trio.current_time())
            if decision.skipped:
                self.status.skipped_ticks += decision.skipped
                self.counters.skipped.inc(decision.skipped, plugin=self.status.name, reason="overrun")
            await self._sleep_until(decision.due, schedule)

    def _follow_pacer(self, schedule: TickSchedule, now: float | None = None) -> float | None:
        """Adopt the pacer's interval if it changed; returns the (possibly moved) due time."""
        interval = self._effective_interval()
        if interval == schedule.interval:
            return None
        self.status.interval_s = interval
        return schedule.retime(interval, now=now)

    async def _sleep_until(self, due: float, schedule: TickSchedule) -> None:
        while True:
            # promising to wake at ``due`` makes a starved scheduler visible, not only a hung scrape
            self.probe.expect(due - trio.current_time(), "waiting for its next tick")
            if self.pacer is None:
                await trio.sleep_until(due)
                return
            with trio.move_on_at(due):
                await self.pacer.wait_changed()
            now = trio.current_time()
            if now >= due:
                return
            moved = self._follow_pacer(schedule, now)
            if moved is not None:
                due = moved

    async def _scrape_once(self, deadline: float) -> None:
        started = trio.current_time()
        fragments = await self._call_scrape(deadline)
        duration = trio.current_time() - started
        self.status.runs += 1
        self.status.last_run_unix = time.time()
        self.status.last_duration_s = duration
        self.counters.runs.inc(plugin=self.status.name, outcome="ok")
        self.counters.duration.observe(duration, plugin=self.status.name)
        self.restart_backoff.reset()
        if self.pacer is not None and fragments:
            self.pacer.scraped(fragments)
        for fragment in fragments:
            if fragment.records and not self.ctx.offer(fragment):
                self.status.skipped_ticks += 1
                self.counters.skipped.inc(plugin=self.status.name, reason="backpressure")

    async def _call_scrape(self, deadline: float) -> list[Fragment]:
        if isinstance(self.plugin, BlockingScraper):
            scrape = self.plugin.scrape
            return await trio.to_thread.run_sync(_collect, scrape, self.ctx, abandon_on_cancel=True)
        assert isinstance(self.plugin, Scraper)
        with trio.move_on_after(deadline) as scope:
            return list(await self.plugin.scrape(self.ctx))
        if scope.cancelled_caught:
            raise TimeoutError(f"scrape took longer than its interval ({deadline:g}s)")
        return []  # pragma: no cover - unreachable


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the error itself, looking inside exception groups (a plugin's
    nursery wraps what went wrong: the operator needs the OSError, not the group)."""
    inner = getattr(exc, "exceptions", None)  # BaseExceptionGroup (the backport on 3.10)
    if isinstance(inner, tuple | list) and inner:
        return "; ".join(describe_error(e) for e in inner)
    return f"{type(exc).__name__}: {exc}"


def _collect(scrape: Any, ctx: RuntimeContext) -> list[Fragment]:
    result: Iterable[Fragment] = scrape(ctx)
    return list(result)


class _StartOnce:
    """A ``task_status`` stand-in that forwards only the first ``started()``.

    ``on_started`` runs on every ``started()`` (a receiver saying it is ready again
    ends a failure episode); :meth:`release` only unblocks the agent's start.
    """

    def __init__(self, task_status: trio.TaskStatus[None], on_started: Callable[[], None]) -> None:
        self._task_status = task_status
        self._on_started = on_started
        self._done = False

    def started(self, value: None = None) -> None:
        self._on_started()
        self.release()

    def release(self) -> None:
        """Let the agent's start proceed without claiming the plugin is healthy."""
        if not self._done:
            self._done = True
            self._task_status.started()
