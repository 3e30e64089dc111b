"""Predicting whether the next export attempt fails: an online logistic model (sans-IO).

Theory of operation. Links of edge devices fail in patterns: a cellular
modem that drops every few minutes, a site that powers its uplink down at
night, a congested backhaul whose RTT climbs before requests time out. The
model sees, before each attempt, a feature vector of the link's recent
history and outputs ``p = P(attempt fails)``; after the attempt it learns
the outcome with one step of stochastic gradient descent on the log loss
(L2-regularised, so old evidence fades and the model follows a changing
link). Features, all in ``[0, 1]``:

* a bias, whether the last attempt failed, an EWMA of the error rate;
* the RTT trend: short-term over long-term mean RTT of successes;
* *state age*: one-hot log-spaced buckets (x1.5 from 4 s to ~7 h) of how
  long the link has been in its current state (since the first failure of
  the current failure streak, or the first success after the last one).
  Outages and up-times have characteristic lengths; this is a piecewise
  hazard model the regression learns;
* time of day: one-hot hour (local time of the device), for outages that
  come with the clock (nightly maintenance, a solar-powered uplink).

The prediction can only change when a bucket boundary or an hour passes,
or with a new outcome: :meth:`LinkModel.stable_for` says how long the
current features stay as they are (the gate uses it to sleep exactly
until the answer might change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

AGE_BUCKETS = tuple(4.0 * 1.5**i for i in range(24))  # 4 s ... ~7 h, bucket edges
_N_AGE = len(AGE_BUCKETS) + 1
_BASE = 4  # bias, last failed, error rate, rtt trend
_UP_AGE = _BASE
_DOWN_AGE = _UP_AGE + _N_AGE
_HOUR = _DOWN_AGE + _N_AGE
N_FEATURES = _HOUR + 24


def _bucket(age: float) -> int:
    for i, edge in enumerate(AGE_BUCKETS):
        if age < edge:
            return i
    return len(AGE_BUCKETS)


@dataclass
class LinkHistory:
    """What the model needs to remember about past attempts."""

    last_failed: bool | None = None
    state_since: float = 0.0  # when the current streak (of failures or of successes) began
    error_rate: float = 0.0
    rtt_short: float | None = None
    rtt_long: float | None = None
    attempts: int = 0
    last_attempt: float | None = None

    def record(self, now: float, failed: bool, rtt: float | None) -> None:
        if self.last_failed is None or failed != self.last_failed:
            self.state_since = now
        self.last_failed = failed
        self.error_rate += 0.3 * (float(failed) - self.error_rate)
        if rtt is not None and not failed:
            self.rtt_short = rtt if self.rtt_short is None else self.rtt_short + 0.5 * (rtt - self.rtt_short)
            self.rtt_long = rtt if self.rtt_long is None else self.rtt_long + 0.05 * (rtt - self.rtt_long)
        self.attempts += 1
        self.last_attempt = now


@dataclass
class LinkModel:
    learning_rate: float = 0.2
    l2: float = 1e-4
    history: LinkHistory = field(default_factory=LinkHistory)
    weights: list[float] = field(default_factory=lambda: [0.0] * N_FEATURES)

    def __post_init__(self) -> None:
        self.weights[0] = -2.0  # prior: most attempts succeed (p ~ 0.12)

    def features(self, now: float, hour: int) -> list[tuple[int, float]]:
        """The sparse feature vector as ``(index, value)`` pairs."""
        h = self.history
        x = [(0, 1.0), (2, h.error_rate)]
        if h.rtt_short is not None and h.rtt_long:
            x.append((3, min(1.0, max(0.0, (h.rtt_short / h.rtt_long - 1.0) / 2.0))))
        if h.last_failed is not None:
            age = _bucket(max(0.0, now - h.state_since))
            if h.last_failed:
                x.append((1, 1.0))
                x.append((_DOWN_AGE + age, 1.0))
            else:
                x.append((_UP_AGE + age, 1.0))
        x.append((_HOUR + hour % 24, 1.0))
        return x

    def p_fail(self, x: list[tuple[int, float]]) -> float:
        z = sum(self.weights[i] * v for i, v in x)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def learn(self, x: list[tuple[int, float]], failed: bool) -> None:
        """One SGD step on the log loss for this example."""
        error = self.p_fail(x) - float(failed)
        rate = self.learning_rate
        for i, v in x:
            self.weights[i] -= rate * (error * v + self.l2 * self.weights[i])

    def stable_for(self, now: float, seconds_into_hour: float) -> float:
        """Seconds until the features can change without a new outcome (next age bucket or hour)."""
        until_hour = 3600.0 - seconds_into_hour
        h = self.history
        if h.last_failed is None:
            return until_hour
        age = now - h.state_since
        edge = next((e for e in AGE_BUCKETS if e > age), math.inf)
        return max(0.0, min(until_hour, edge - age))


@dataclass
class Scorecard:
    """How good the predictions are, from attempts whose outcome is known.

    ``brier`` is the mean squared error of the probabilities over the last
    ``window`` attempts (0 = perfect, 0.25 = a coin). Skip verdicts are
    mostly not sent, so their precision is measured on the explored ones
    (skip verdicts sent anyway); recall is estimated from it.
    """

    window: int = 200
    recent: list[float] = field(default_factory=list)
    outcomes: dict[tuple[str, bool], int] = field(default_factory=dict)  # (verdict, failed) -> count
    skipped: int = 0

    def record(self, verdict: str, p: float, failed: bool) -> None:
        self.recent.append((p - float(failed)) ** 2)
        if len(self.recent) > self.window:
            del self.recent[0]
        key = (verdict, failed)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def brier(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None

    def skip_precision(self) -> float | None:
        failed, ok = self.outcomes.get(("explore", True), 0), self.outcomes.get(("explore", False), 0)
        return failed / (failed + ok) if failed + ok else None

    def skip_recall(self) -> float | None:
        """Share of doomed attempts that were skipped (estimated: skips x precision)."""
        precision = self.skip_precision()
        if precision is None:
            return None
        caught = self.skipped * precision + self.outcomes.get(("explore", True), 0)
        missed = self.outcomes.get(("go", True), 0) + self.outcomes.get(("forced", True), 0)
        return caught / (caught + missed) if caught + missed else None
