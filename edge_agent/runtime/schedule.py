"""Tick arithmetic for interval scrapers (no clock, no I/O).

Theory of operation: the first tick runs at once (plus the random phase
below), the following ones on a grid, ``due = origin + phase + k * interval``,
so scrape duration never causes drift. The origin is the agent's start
(:func:`~edge_agent.runtime.clock.set_tick_origin`); with no jitter the
phase is 0, so every scraper and every periodic loop of the agent
(:func:`~edge_agent.runtime.clock.sleep_to_next_tick`) whose period divides
another's wakes on the same instants, and an idle agent wakes the event loop
once per tick for all of them instead of once per loop (on a small board a
wake-up costs a few hundred microseconds of CPU whatever follows it).
Devices start at different moments, so a fleet still does not hit the
upstream on the same second. A configured jitter adds a random phase in ``[0, jitter)`` drawn
once per instance, for fleets that restart together. When a scrape overruns
one or more ticks, those ticks are skipped and counted; work never piles up.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class TickDecision:
    due: float
    skipped: int


class TickSchedule:
    def __init__(
        self, interval: float, *, jitter: float = 0.0, rng: random.Random | None = None, origin: float = 0.0
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.jitter = min(jitter, interval)
        self._rng = rng or random.Random()
        self._jitter = self._rng.uniform(0.0, self.jitter) if self.jitter else 0.0
        self._phase = origin + self._jitter
        self._due: float | None = None
        self._last: float | None = None  # due time of the last tick that ran

    def first(self, now: float) -> float:
        """The first due time: ``now`` plus this instance's random phase."""
        self._due = now + self._jitter
        return self._due

    def _grid_after(self, t: float) -> float:
        """The first grid point strictly after ``t`` (a hair of tolerance for float rounding)."""
        k = math.floor((t - self._phase) / self.interval + 1e-9) + 1
        return self._phase + k * self.interval

    def after_run(self, finished: float) -> TickDecision:
        """Given when the last scrape finished, the next due time and ticks skipped."""
        if self._due is None:
            raise RuntimeError("first() must be called before after_run()")
        self._last = self._due
        nxt = self._grid_after(self._due)
        skipped = 0
        if finished >= nxt:
            skipped = math.floor((finished - nxt) / self.interval) + 1
            nxt += skipped * self.interval
        self._due = nxt
        return TickDecision(nxt, skipped)

    def retime(self, interval: float, *, now: float | None = None) -> float | None:
        """Change the interval; returns the pending due time.

        Without ``now`` the change applies from the tick after the pending
        one. With ``now`` the pending tick moves to the last tick's grid point
        plus the new interval, or to ``now`` if that is already past; before
        the first tick the (jittered) first due time is kept.
        """
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        if now is not None and self._last is not None:
            self._due = max(now, self._last + interval)
        return self._due
