"""Sans-IO aggregation of StatsD samples into OTLP metrics per flush interval.

Mapping (also in docs/plugins.md):

* counters -> monotonic ``Sum``; each value is divided by its sample rate.
  ``temporality = "delta"`` (default) reports what arrived in the interval;
  ``"cumulative"`` reports running totals since the plugin started.
* gauges -> ``Gauge`` with the last value; ``+N``/``-N`` adjust the last
  value (kept across intervals). Only gauges updated in the interval are
  reported.
* sets -> ``Gauge`` of the number of distinct members seen in the interval.
* timers, histograms, distributions -> explicit-bucket ``Histogram``
  (bounds from config) with count, sum, min and max; an observation at rate
  ``r`` counts ``1/r`` times. Temporality as for counters.

Bounded: at most ``max_series`` distinct (name, type, tags) series and
``max_set_members`` members per set; beyond that samples are refused and the
caller counts them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from edge_agent import HistogramPoint, MetricsBuilder, Temporality

from .parse import Sample

Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class _Histogram:
    weights: list[float]
    count: float = 0.0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def observe(self, value: float, weight: float, bounds: tuple[float, ...]) -> None:
        self.weights[bisect.bisect_left(bounds, value)] += weight
        self.count += weight
        self.total += value * weight
        self.low = min(self.low, value)
        self.high = max(self.high, value)


@dataclass
class Aggregator:
    bounds: tuple[float, ...]
    temporality: Temporality = Temporality.DELTA
    max_series: int = 10_000
    max_set_members: int = 10_000
    counters: dict[Key, float] = field(default_factory=dict)
    gauges: dict[Key, float] = field(default_factory=dict)
    sets: dict[Key, set[str]] = field(default_factory=dict)
    histograms: dict[Key, _Histogram] = field(default_factory=dict)
    _updated_gauges: set[Key] = field(default_factory=set)

    def series(self) -> int:
        return len(self.counters) + len(self.gauges) + len(self.sets) + len(self.histograms)

    def add(self, sample: Sample) -> bool:
        """Fold one sample in; False when a bound refused it (the caller counts that)."""
        key = (sample.name, sample.tags)
        table: dict[Key, object] = getattr(self, _TABLE[sample.kind])
        if key not in table and self.series() >= self.max_series:
            return False
        if sample.kind == "counter":
            self.counters[key] = self.counters.get(key, 0.0) + sum(sample.values) / sample.rate
        elif sample.kind == "gauge":
            value = sample.values[-1]
            if sample.delta:
                value = self.gauges.get(key, 0.0) + sum(sample.values)
            self.gauges[key] = value
            self._updated_gauges.add(key)
        elif sample.kind == "set":
            members = self.sets.setdefault(key, set())
            if len(members) + len(sample.members) > self.max_set_members:
                return False
            members.update(sample.members)
        else:
            hist = self.histograms.get(key)
            if hist is None:
                hist = self.histograms[key] = _Histogram([0.0] * (len(self.bounds) + 1))
            for value in sample.values:
                hist.observe(value, 1.0 / sample.rate, self.bounds)
        return True

    def flush(self, builder: MetricsBuilder, *, start_time_ns: int) -> None:
        """Write this interval's metrics to ``builder`` (one metric per name) and reset per-interval state."""
        counters = _by_name((key, _num(total)) for key, total in self.counters.items())
        for name, points in counters.items():
            builder.sum(name, points, temporality=self.temporality, start_time_ns=start_time_ns)
        gauges = _by_name((key, _num(self.gauges[key])) for key in self._updated_gauges)
        gauges.update(_by_name((key, len(members)) for key, members in self.sets.items()))
        for name, points in gauges.items():
            builder.gauge(name, points)
        by_name: dict[str, list[HistogramPoint]] = {}
        for (name, tags), hist in sorted(self.histograms.items()):
            by_name.setdefault(name, []).append(self._point(hist, tags, start_time_ns))
        for name, hist_points in by_name.items():
            builder.histogram(name, hist_points, temporality=self.temporality)
        self._updated_gauges.clear()
        self.sets.clear()
        if self.temporality is Temporality.DELTA:
            self.counters.clear()
            self.histograms.clear()

    def _point(self, hist: _Histogram, tags: tuple[tuple[str, str], ...], start_ns: int) -> HistogramPoint:
        buckets = [round(w) for w in hist.weights]
        return HistogramPoint(
            count=sum(buckets),
            sum=hist.total,
            bounds=self.bounds,
            bucket_counts=buckets,
            attributes=dict(tags),
            min=hist.low,
            max=hist.high,
            start_time_ns=start_ns,
        )


_TABLE = {
    "counter": "counters",
    "gauge": "gauges",
    "set": "sets",
    "timer": "histograms",
    "histogram": "histograms",
}


def _by_name(items: Iterable[tuple[Key, int | float]]) -> dict[str, list[tuple[dict[str, str], int | float]]]:
    grouped: dict[str, list[tuple[dict[str, str], int | float]]] = {}
    for (name, tags), value in sorted(items):
        grouped.setdefault(name, []).append((dict(tags), value))
    return grouped


def _num(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < 2**63 else value
