"""Tick arithmetic for interval scrapers (no clock, no I/O).

Theory of operation: ticks are phase-aligned, ``due = phase + k * interval``,
so scrape duration never causes drift. The phase is a random offset in
``[0, jitter)`` drawn once per instance, which spreads a fleet's scrapes
(and therefore its uploads) instead of every device hitting ``:00``. When a
scrape overruns one or more ticks, those ticks are skipped and counted;
work never piles up.
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
    def __init__(self, interval: float, *, jitter: float = 0.0, rng: random.Random | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.jitter = min(jitter, interval)
        self._rng = rng or random.Random()
        self._due: float | None = None
        self._last: float | None = None  # due time of the last tick that ran

    def first(self, now: float) -> float:
        """The first due time: ``now`` plus this instance's random phase."""
        self._due = now + (self._rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
        return self._due

    def after_run(self, finished: float) -> TickDecision:
        """Given when the last scrape finished, the next due time and ticks skipped."""
        if self._due is None:
            raise RuntimeError("first() must be called before after_run()")
        self._last = self._due
        nxt = self._due + self.interval
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
