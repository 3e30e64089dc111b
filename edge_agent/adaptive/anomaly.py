"""Streaming anomaly detection on selected metric series (sans-IO).

Theory of operation. Each watched series (a metric name plus one attribute
set) keeps an exponentially weighted mean and variance (West's incremental
form, weight ``alpha`` per value). A value is anomalous when it lies more
than ``threshold`` deviations from the mean, once the series has seen
``warmup`` values. The deviation has a floor (1 % of the mean's magnitude)
so that a series that was perfectly flat does not call a 0.1 % wiggle an
anomaly. An anomalous value is learned *clipped* to the threshold band, so
one spike barely moves the baseline while a lasting level shift is adopted
within a few dozen values.

Gauges and non-monotonic sums are watched as they are; monotonic
cumulative sums (counters) as their rate between consecutive points,
because the raw total only ever grows.

Cost: fragments are bytes; a fragment is read only when one of the watched
metric names occurs in its bytes (a substring search), and then only the
watched metrics' points are walked, straight from the wire format
(:mod:`~edge_agent.adaptive.points`): watching series never loads the
protobuf classes. At most ``max_series`` series are tracked; further ones
are ignored (counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge_agent.adaptive.config import AnomalyConfig, SeriesSelector
from edge_agent.adaptive.points import number_points
from edge_agent.otlp.fragment import Fragment, Signal
from edge_agent.otlp.wire import WireError

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class EwmaStats:
    alpha: float
    count: int = 0
    mean: float = 0.0
    variance: float = 0.0

    def update(self, value: float) -> None:
        if self.count == 0:
            self.mean = value
        else:
            diff = value - self.mean
            increment = self.alpha * diff
            self.mean += increment
            self.variance = (1 - self.alpha) * (self.variance + diff * increment)
        self.count += 1

    def sigma(self) -> float:
        return max(math.sqrt(self.variance), 0.01 * abs(self.mean), 1e-9)


@dataclass(frozen=True)
class Anomaly:
    metric: str
    attributes: tuple[tuple[str, str], ...]
    value: float
    mean: float
    sigma: float
    score: float  # deviations from the mean
    time_ns: int

    def describe(self) -> str:
        attrs = ",".join(f"{k}={v}" for k, v in self.attributes)
        series = f"{self.metric}{{{attrs}}}" if attrs else self.metric
        return f"{series} = {self.value:.4g} (mean {self.mean:.4g}, {self.score:.1f} sigma)"


@dataclass
class _Series:
    stats: EwmaStats
    last_total: tuple[float, int] | None = None  # counters: previous (value, time_ns)


@dataclass
class AnomalyDetector:
    config: AnomalyConfig
    series: dict[SeriesKey, _Series] = field(default_factory=dict)
    ignored_series: int = 0
    decoded: int = 0  # fragments read (the rest were skipped by the byte search)
    malformed: int = 0

    def __post_init__(self) -> None:
        self._selectors = self.config.selectors()
        self._names = frozenset(s.metric for s in self._selectors)
        self._needles = tuple(sorted(n.encode() for n in self._names))

    def wants(self, fragment: Fragment) -> bool:
        """Whether ``fragment`` may hold a watched series (no decoding)."""
        return (
            self.config.enabled
            and fragment.signal is Signal.METRICS
            and any(n in fragment.payload for n in self._needles)
        )

    def observe(self, fragment: Fragment) -> list[Anomaly]:
        """Feed every watched point of ``fragment``; returns the anomalies found."""
        if not self.wants(fragment):
            return []
        self.decoded += 1
        found: list[Anomaly] = []
        try:
            for point in number_points(fragment.payload, self._names):
                if not any(s.matches(point.metric, point.attributes) for s in self._selectors):
                    continue
                key = (point.metric, tuple(sorted(point.attributes.items())))
                anomaly = self._point(key, point.value, point.time_ns, point.counter)
                if anomaly is not None:
                    found.append(anomaly)
        except WireError:
            self.malformed += 1  # a plugin's fragment the upstream would refuse anyway
        return found

    def _point(self, key: SeriesKey, value: float, time_ns: int, rate: bool) -> Anomaly | None:
        series = self.series.get(key)
        if series is None:
            if len(self.series) >= self.config.max_series:
                self.ignored_series += 1
                return None
            series = self.series[key] = _Series(EwmaStats(self.config.alpha))
        if rate:
            previous, series.last_total = series.last_total, (value, time_ns)
            if previous is None or time_ns <= previous[1] or value < previous[0]:
                return None  # first point, or the counter was reset
            value = (value - previous[0]) / ((time_ns - previous[1]) / 1e9)
        return self.feed(key, series.stats, value, time_ns)

    def feed(self, key: SeriesKey, stats: EwmaStats, value: float, time_ns: int) -> Anomaly | None:
        """Score ``value`` against the series' baseline, then learn it (clipped if anomalous)."""
        threshold = self.config.threshold
        if stats.count < self.config.warmup:
            stats.update(value)
            return None
        sigma = stats.sigma()
        score = abs(value - stats.mean) / sigma
        if score < threshold:
            stats.update(value)
            return None
        anomaly = Anomaly(key[0], key[1], value, stats.mean, sigma, score, time_ns)
        stats.update(stats.mean + math.copysign(threshold * sigma, value - stats.mean))
        return anomaly


__all__ = ["Anomaly", "AnomalyDetector", "EwmaStats", "SeriesSelector"]
