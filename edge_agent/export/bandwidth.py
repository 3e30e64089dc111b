"""Bandwidth caps on bytes on the wire, as plain objects (no clock, no I/O).

Theory of operation. Every request attempt is charged the bytes it puts on
the wire (compressed body plus request head) *before* it is sent. Two caps
may apply, and a request waits until both allow it:

* :class:`TokenBucket`: ``rate`` bytes per second with a ``burst`` of
  ``capacity`` bytes. A charge may take the bucket into debt (a batch can
  be larger than the burst); the next request then waits until the debt is
  paid back, so the long-run rate is exact while a single large batch is
  never blocked forever.
* :class:`DailyBudget`: at most ``limit`` bytes per 24 h window, for
  metered links. The window starts at the first charge and restarts 24 h
  later (trio's clock, so it is measured in uptime, not calendar days). The
  charge that crosses the limit is allowed; after it nothing goes until the
  window ends.

The exporter waits for :meth:`Shaper.delay` to reach 0 *before* it takes the
next batch from the buffer, so whatever is most important at the moment
bandwidth frees up (the buffer orders fresh and high-priority data first)
is what goes out.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400.0


class TokenBucket:
    def __init__(self, rate: float, capacity: float, *, now: float = 0.0) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be > 0")
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now

    def delay(self, now: float) -> float:
        """Seconds until a request may start (0 = now)."""
        self._refill(now)
        # less than a byte of debt is float noise from refilling, not a reason to wait
        return 0.0 if self.tokens > -1.0 else -self.tokens / self.rate

    def charge(self, now: float, size: int) -> None:
        self._refill(now)
        self.tokens -= size


class DailyBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("limit must be > 0")
        self.limit = limit
        self.used = 0
        self.window_start: float | None = None

    def _roll(self, now: float) -> None:
        if self.window_start is not None and now >= self.window_start + DAY:
            # skip whole idle days so the window stays aligned to the first charge
            days = (now - self.window_start) // DAY
            self.window_start += days * DAY
            self.used = 0

    def delay(self, now: float) -> float:
        self._roll(now)
        if self.window_start is None or self.used < self.limit:
            return 0.0
        return self.window_start + DAY - now

    def charge(self, now: float, size: int) -> None:
        self._roll(now)
        if self.window_start is None:
            self.window_start = now
        self.used += size

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(0, self.limit - self.used)


@dataclass(frozen=True)
class ShaperStats:
    charged_bytes: int
    waits: int
    daily_remaining: int | None


class Shaper:
    """Both caps together; either may be absent (unlimited)."""

    def __init__(self, bucket: TokenBucket | None, daily: DailyBudget | None) -> None:
        self.bucket = bucket
        self.daily = daily
        self.charged_bytes = 0
        self.waits = 0

    @classmethod
    def create(cls, per_second: int, burst: int, per_day: int, *, now: float = 0.0) -> Shaper:
        bucket = TokenBucket(per_second, burst or per_second, now=now) if per_second else None
        return cls(bucket, DailyBudget(per_day) if per_day else None)

    def is_unlimited(self) -> bool:
        return self.bucket is None and self.daily is None

    def delay(self, now: float) -> float:
        delays = [cap.delay(now) for cap in (self.bucket, self.daily) if cap is not None]
        return max(delays, default=0.0)

    def charge(self, now: float, size: int) -> None:
        self.charged_bytes += size
        for cap in (self.bucket, self.daily):
            if cap is not None:
                cap.charge(now, size)

    def refund(self, now: float, size: int) -> None:
        """Give back a charge for bytes that were never sent (the connection failed first)."""
        self.charged_bytes -= size
        if self.bucket is not None:
            self.bucket.tokens = min(self.bucket.capacity, self.bucket.tokens + size)
        if self.daily is not None:
            self.daily.used = max(0, self.daily.used - size)

    def statistics(self, now: float) -> ShaperStats:
        remaining = self.daily.remaining(now) if self.daily is not None else None
        return ShaperStats(self.charged_bytes, self.waits, remaining)
