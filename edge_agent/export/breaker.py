"""A per-endpoint circuit breaker, as a plain object (no clock, no I/O).

Theory of operation. The breaker answers one question for the exporter:
"may a request go to this endpoint now?", and learns from each result.

* ``CLOSED``: requests flow. ``failure_threshold`` consecutive failures
  (transport errors, 502/503/504, a refused client certificate) open it.
* ``OPEN``: nothing is sent until ``reopen_at``. Then the breaker turns
  ``HALF_OPEN`` and grants exactly one probe request.
* ``HALF_OPEN``: the probe is in flight; everyone else keeps waiting. A
  success closes the breaker; a failure opens it again with the open
  interval multiplied (up to ``max_open_interval``), so an hours-long
  outage costs one attempt per ``max_open_interval``, never a storm.

Independently of the state, :meth:`hold_until` honours a server's
``Retry-After``: the endpoint is not used before that time even when closed.

Time is passed in by the caller (trio's clock in the shell), so tests drive
it directly. Invariants: at most one probe in flight while not ``CLOSED``;
``reopen_at`` is only meaningful while ``OPEN``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 3
    open_interval: float = 5.0
    max_open_interval: float = 60.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if not 0 < self.open_interval <= self.max_open_interval:
            raise ValueError("need 0 < open_interval <= max_open_interval")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.reopen_at = 0.0
        self.held_until = 0.0
        self.opened_count = 0
        self._interval = policy.open_interval
        self._probe_in_flight = False

    # -- questions ---------------------------------------------------------

    def available_at(self, now: float) -> float | None:
        """When a request may next be sent (``<= now`` means now); ``None`` while a probe is out."""
        if self.state is BreakerState.CLOSED:
            return max(now, self.held_until)
        if self._probe_in_flight:
            return None
        return max(self.reopen_at, self.held_until)

    def can_send(self, now: float) -> bool:
        at = self.available_at(now)
        return at is not None and at <= now

    def is_healthy(self, now: float) -> bool:
        """Closed and not held back by Retry-After: a first choice for failover."""
        return self.state is BreakerState.CLOSED and self.held_until <= now

    # -- events ------------------------------------------------------------

    def on_send(self, now: float) -> None:
        """A request is going out (call only when :meth:`can_send` said yes)."""
        if not self.can_send(now):
            raise RuntimeError("request sent while the breaker does not allow it")
        if self.state is BreakerState.OPEN:
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            self._probe_in_flight = True

    def on_success(self, now: float) -> None:
        """The endpoint answered in a way that shows it works (2xx, 4xx, 429)."""
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._interval = self.policy.open_interval
        self._probe_in_flight = False

    def on_failure(self, now: float) -> None:
        """The endpoint did not work (transport error, 502/503/504, refused credentials)."""
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self._interval = min(self.policy.max_open_interval, self._interval * self.policy.multiplier)
            self._open(now)
        elif self.state is BreakerState.CLOSED and self.consecutive_failures >= self.policy.failure_threshold:
            self._open(now)
        # a late failure while OPEN (sent before it opened) changes nothing

    def on_abandon(self, now: float) -> None:
        """A request ended without a verdict (cancelled): let the next probe go at once."""
        if self.state is BreakerState.HALF_OPEN and self._probe_in_flight:
            self._probe_in_flight = False
            self.state = BreakerState.OPEN
            self.reopen_at = now

    def hold_until(self, when: float) -> None:
        """Honour ``Retry-After``: send nothing to this endpoint before ``when``."""
        self.held_until = max(self.held_until, when)

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.reopen_at = now + self._interval
        self.opened_count += 1
        self._probe_in_flight = False
