"""Exponential backoff with jitter, as a plain object (no clock, no I/O).

Used by the plugin supervisor and the exporter's retry policy. ``next_delay``
returns how long to wait before the next attempt; ``reset`` after a success.
With ``full_jitter`` the wait is uniform in ``[0, backoff]`` (the AWS
"full jitter" scheme that spreads a fleet's retries best); otherwise it is
uniform in ``[(1-f) backoff, (1+f) backoff]`` like the OTel Collector.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float
    maximum: float
    multiplier: float = 2.0
    randomization_factor: float = 0.5
    full_jitter: bool = False
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.multiplier < 1:
            raise ValueError("need 0 < initial <= maximum and multiplier >= 1")

    def current(self) -> float:
        """The un-jittered backoff for the next attempt."""
        try:
            value = self.initial * self.multiplier**self.attempts
        except OverflowError:  # after ~1700 failures at x1.5; a day offline can get there
            return self.maximum
        return min(self.maximum, value)

    def next_delay(self) -> float:
        base = self.current()
        self.attempts += 1
        if self.full_jitter:
            return self.rng.uniform(0.0, base)
        spread = base * self.randomization_factor
        return self.rng.uniform(base - spread, base + spread)

    def reset(self) -> None:
        self.attempts = 0
