"""Adaptive request concurrency (AIMD), after Vector's ARC, as a plain object.

Theory of operation. ``limit`` is how many requests may be in flight. Every
response feeds :meth:`AimdController.on_response` with its round-trip time
and whether it was backpressure (429, 502-504, a transport error or a
timeout). Once per observation window (one past-RTT long) the controller
decides:

* **increase by one** if the limit was actually reached during the window,
  nothing pushed back, and the window's mean RTT is no worse than the
  long-run mean (the upstream kept up with more parallelism);
* **decrease multiplicatively** (``limit * decrease_ratio``, rounded down,
  at least 1) if anything pushed back, or the window's mean RTT exceeds the
  long-run mean by more than ``rtt_deviation_scale`` standard deviations
  (queueing somewhere: the link or the collector is saturated).

The long-run RTT is an exponentially weighted mean and variance
(``ewma_alpha``), updated once per window with that window's mean, as in
Vector (start 1, decrease x0.9, alpha 0.4, deviation scale 2.5). RTTs of
backpressure responses are not learned: a fast 503 says nothing about how
long real work takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AimdSettings:
    initial: int = 1
    maximum: int = 4
    decrease_ratio: float = 0.9
    ewma_alpha: float = 0.4
    rtt_deviation_scale: float = 2.5

    def __post_init__(self) -> None:
        if not 1 <= self.initial <= self.maximum:
            raise ValueError("need 1 <= initial concurrency <= maximum")
        if not 0 < self.decrease_ratio < 1:
            raise ValueError("decrease_ratio must be between 0 and 1")
        if not 0 < self.ewma_alpha <= 1:
            raise ValueError("ewma_alpha must be in (0, 1]")
        if self.rtt_deviation_scale < 0:
            raise ValueError("rtt_deviation_scale must be >= 0")


class EwmaVar:
    """Exponentially weighted mean and variance (West's incremental form)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.mean: float | None = None
        self.variance = 0.0

    def update(self, value: float) -> None:
        if self.mean is None:
            self.mean = value
            return
        diff = value - self.mean
        increment = self.alpha * diff
        self.mean += increment
        self.variance = (1 - self.alpha) * (self.variance + diff * increment)

    @property
    def stdev(self) -> float:
        return math.sqrt(self.variance)


class AimdController:
    def __init__(self, settings: AimdSettings, *, now: float = 0.0) -> None:
        self.settings = settings
        self.limit = settings.initial
        self.past_rtt = EwmaVar(settings.ewma_alpha)
        self.increases = 0
        self.decreases = 0
        self._window_end = now
        self._window_sum = 0.0
        self._window_count = 0
        self._reached_limit = False
        self._backpressure = False

    def on_start(self, in_flight: int) -> None:
        """A request starts with ``in_flight`` requests (this one included) outstanding."""
        if in_flight >= self.limit:
            self._reached_limit = True

    def on_response(self, now: float, rtt: float | None, *, backpressure: bool) -> None:
        """A request finished; ``rtt`` only for responses the upstream processed (2xx)."""
        if backpressure:
            self._backpressure = True
        if rtt is not None:
            self._window_sum += rtt
            self._window_count += 1
        current = self._window_sum / self._window_count if self._window_count else None
        if self.past_rtt.mean is None:
            # the first measurement only seeds the long-run RTT and the window length;
            # before any RTT is known, backpressure alone still shrinks the limit
            if current is not None:
                self.past_rtt.update(current)
                self._window_end = now + current
                self._reset_window()
            elif backpressure and self.limit > 1:
                self._decrease()
            return
        if now >= self._window_end:
            self._adjust(now, current, self.past_rtt.mean)

    def _adjust(self, now: float, current: float | None, past: float) -> None:
        if (
            self.limit < self.settings.maximum
            and self._reached_limit
            and not self._backpressure
            and current is not None
            and current <= past
        ):
            self.limit += 1
            self.increases += 1
        elif self.limit > 1 and (self._backpressure or self._rtt_grew(current, past)):
            self._decrease()
        if current is not None:
            self.past_rtt.update(current)
        self._window_end = now + (self.past_rtt.mean or 0.0)
        self._reset_window()

    def _decrease(self) -> None:
        # floor() makes every decrease take at least one slot away (4 x 0.9 -> 3)
        self.limit = max(1, math.floor(self.limit * self.settings.decrease_ratio))
        self.decreases += 1

    def _reset_window(self) -> None:
        self._window_sum, self._window_count = 0.0, 0
        self._reached_limit = self._backpressure = False

    def _rtt_grew(self, current: float | None, past: float) -> bool:
        # strictly greater: a perfectly steady RTT (stdev 0) is not a reason to back off
        if current is None:
            return False
        return current > past + self.past_rtt.stdev * self.settings.rtt_deviation_scale
