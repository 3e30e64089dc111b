"""When the OpAMP client talks next: jittered polling, backoff on failure, throttling (sans-IO).

* After a successful exchange the next poll waits the heartbeat interval
  (the server's offer, else ``fleet.poll_interval``), drawn from
  ``[1-j, 1+j] x interval`` so a fleet that rebooted together spreads out.
* A failed exchange (no connection, timeout, 5xx) backs off exponentially
  with full jitter, from 5 s up to 5 min, like the spec's "Establishing
  Connection" asks.
* A throttled one (HTTP 429/503, or an UNAVAILABLE error response) waits
  what the server asked (``Retry-After`` / ``retry_info``), else backs off
  starting at the spec's minimum recommended 30 s.

Any success resets the backoff.
"""

from __future__ import annotations

import random

from edge_agent.runtime.backoff import Backoff

FAILURE_INITIAL = 5.0
FAILURE_MAX = 300.0
THROTTLE_MIN = 30.0


class PollTiming:
    def __init__(self, jitter: float, rng: random.Random | None = None) -> None:
        self.jitter = jitter
        self.rng = rng or random.Random()
        self._failures = Backoff(FAILURE_INITIAL, FAILURE_MAX, multiplier=2.0, full_jitter=True, rng=self.rng)
        self.consecutive_failures = 0

    def after_success(self, interval: float) -> float:
        self._failures.reset()
        self.consecutive_failures = 0
        spread = interval * self.jitter
        return max(0.0, self.rng.uniform(interval - spread, interval + spread))

    def after_failure(self) -> float:
        self.consecutive_failures += 1
        return max(1.0, self._failures.next_delay())

    def after_throttle(self, retry_after: float | None) -> float:
        self.consecutive_failures += 1
        if retry_after is not None:
            return max(0.0, retry_after)
        return max(THROTTLE_MIN, self._failures.next_delay())
