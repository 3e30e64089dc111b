"""Predicting whether the next export attempt fails: an online model of the link (sans-IO).

Theory of operation. Links of edge devices fail in patterns: a cellular
modem that drops every few minutes, a site that powers its uplink down at
night, a congested backhaul whose RTT climbs before requests time out.
Before each attempt the model estimates ``p = P(attempt fails)`` from the
link's recent history; after it, it learns the outcome.

The estimate combines a few *cells*, each an exponentially weighted failure
rate of the attempts that fell into it (a running mean whose weight is
capped at ``1 / memory``, so old evidence fades and the model follows a
changing link):

* the **state**: whether the last attempt failed (the link is down or up);
* the **state age**: log-spaced buckets (x1.5 from 4 s to ~7 h) of how long
  the link has been in that state: since the first failure of the current
  failure streak, or the first success after it. Outages and up-times have
  characteristic lengths; per bucket this is a discrete hazard estimate;
* the **hour of day** in that state (device local time), for outages that
  come with the clock (nightly maintenance, a solar-powered uplink);
* while up, the **RTT trend** (recent over long-run mean RTT, in three
  bands): a congested path slows down before it fails.

The age cell is the main estimate, shrunk towards its state's rate until it
holds evidence (``(n r + 3 r_state) / (n + 3)``). The hour cell then moves
it by ``n / (n + 10)`` of their disagreement: an hour the model knows little
about is neutral, one it has seen many times (the link is always down at
03:00, always back at 08:00) weighs in. The RTT band's failure rate raises
the estimate when it is higher (a slowing path). Keeping
the cells separate, rather than fitting weights jointly by gradient
descent, stops the thousands of successes while the link is up from
swamping the few attempts made while it is down; an hour that says
nothing about the link never overrules the age.

The prediction can only change when a bucket boundary or an hour passes,
or with a new outcome: :meth:`LinkModel.stable_for` says how long the
current cells stay as they are (the gate sleeps exactly until then).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

AGE_BUCKETS = tuple(4.0 * 1.5**i for i in range(24))  # 4 s ... ~7 h, bucket edges
_N_AGE = len(AGE_BUCKETS) + 1
# cell layout: per state (0 = up, 1 = down): the state itself, its age buckets, its hours;
# then the RTT bands (up only); index 2 * _PER_STATE is "nothing seen yet"
_PER_STATE = 1 + _N_AGE + 24
_RTT_CELLS = 2 * _PER_STATE
_UNKNOWN = _RTT_CELLS + 3
N_CELLS = _UNKNOWN + 1
PRIOR_RATE = 0.1  # before any evidence: most attempts succeed
SHRINK = 3.0  # pseudo-observations of the state's rate in an age cell's estimate
HOUR_SHRINK = 10.0  # an hour cell moves the estimate by n / (n + 10) of its disagreement


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
    rtt_short: float | None = None
    rtt_long: float | None = None
    attempts: int = 0
    last_attempt: float | None = None

    def record(self, now: float, failed: bool, rtt: float | None) -> None:
        if self.last_failed is None or failed != self.last_failed:
            self.state_since = now
        self.last_failed = failed
        if rtt is not None and not failed:
            self.rtt_short = rtt if self.rtt_short is None else self.rtt_short + 0.5 * (rtt - self.rtt_short)
            self.rtt_long = rtt if self.rtt_long is None else self.rtt_long + 0.05 * (rtt - self.rtt_long)
        self.attempts += 1
        self.last_attempt = now


@dataclass
class LinkModel:
    memory: int = 20  # a cell's running mean weighs new outcomes at least 1/memory
    history: LinkHistory = field(default_factory=LinkHistory)
    rates: list[float] = field(default_factory=lambda: [PRIOR_RATE] * N_CELLS)
    counts: list[float] = field(default_factory=lambda: [0.0] * N_CELLS)

    def features(self, now: float, hour: int) -> list[tuple[int, float]]:
        """The cells this attempt falls into, as ``(cell, 1.0)`` pairs; the state's cell first."""
        h = self.history
        if h.last_failed is None:
            return [(_UNKNOWN, 1.0)]
        base = _PER_STATE if h.last_failed else 0
        age = _bucket(max(0.0, now - h.state_since))
        cells = [(base, 1.0), (base + 1 + age, 1.0), (base + 1 + _N_AGE + hour % 24, 1.0)]
        if not h.last_failed and h.rtt_short is not None and h.rtt_long:
            ratio = h.rtt_short / h.rtt_long
            cells.append((_RTT_CELLS + (0 if ratio < 1.2 else 1 if ratio < 2.0 else 2), 1.0))
        return cells

    def _estimate(self, cell: int, prior: float) -> float:
        n = self.counts[cell]
        return (n * self.rates[cell] + SHRINK * prior) / (n + SHRINK)

    def p_fail(self, x: list[tuple[int, float]]) -> float:
        state = x[0][0]
        prior = self._estimate(state, PRIOR_RATE)
        if len(x) == 1:
            return prior
        age = self._estimate(x[1][0], prior)
        hour, n = self.rates[x[2][0]], self.counts[x[2][0]]
        p = age + n / (n + HOUR_SHRINK) * (hour - age)  # an hour without evidence is neutral
        if len(x) > 3:
            p = max(p, self._estimate(x[3][0], p))
        return p

    def learn(self, x: list[tuple[int, float]], failed: bool) -> None:
        """Move every cell of ``x`` towards the outcome."""
        for cell, _ in x:
            n = self.counts[cell] = min(self.counts[cell] + 1.0, float(self.memory))
            self.rates[cell] += (float(failed) - self.rates[cell]) / n

    def stable_for(self, now: float, seconds_into_hour: float) -> float:
        """Seconds until the cells can change without a new outcome (next age bucket or hour)."""
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
