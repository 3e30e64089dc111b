"""Prometheus metric families -> OTLP metrics (sans-IO).

* counter -> cumulative monotonic ``Sum`` named as its ``# TYPE`` line
  (0.0.4: ``x_total``; OpenMetrics: ``x``); ``_created`` samples are dropped
* gauge, untyped, info, stateset -> ``Gauge``
* histogram -> cumulative explicit-bucket ``Histogram`` (``le`` buckets
  de-accumulated; ``+Inf`` is the count)
* summary -> ``Summary`` (quantiles, sum, count)
* gaugehistogram -> skipped and counted (no OTLP equivalent)

Labels become attributes; ``extra`` attributes (``job``, ``instance``) are
added to every point. Samples that contradict themselves (a histogram whose
buckets do not add up) are skipped and counted, never fatal.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from edge_agent import AttributeValue, HistogramPoint, MetricsBuilder, SummaryPoint

from .textparse import Family

Attrs = dict[str, AttributeValue]


@dataclass
class ConvertStats:
    points: int = 0
    skipped: int = 0


def add_families(builder: MetricsBuilder, families: list[Family], extra: Attrs) -> ConvertStats:
    stats = ConvertStats()
    for family in families:
        if family.type == "histogram":
            _histogram(builder, family, extra, stats)
        elif family.type == "summary":
            _summary(builder, family, extra, stats)
        elif family.type == "gaugehistogram":
            stats.skipped += len(family.samples)
        else:
            _simple(builder, family, extra, stats)
    return stats


def _simple(builder: MetricsBuilder, family: Family, extra: Attrs, stats: ConvertStats) -> None:
    if family.type == "counter":
        samples = [s for s in family.samples if not s[0].endswith("_created")]
        points = [
            ({**extra, **labels}, _number(value)) for _, labels, value in samples if not math.isnan(value)
        ]
        if points:
            builder.sum(family.name, points, unit=family.unit, description=family.help, monotonic=True)
    else:
        points = [({**extra, **labels}, _number(value)) for _, labels, value in family.samples]
        if points:
            builder.gauge(family.name, points, unit=family.unit, description=family.help)
    stats.points += len(points)


def _series(
    family: Family, skip_label: str, stats: ConvertStats
) -> dict[tuple[tuple[str, str], ...], dict[str, object]]:
    grouped: dict[tuple[tuple[str, str], ...], dict[str, object]] = {}
    for name, labels, value in family.samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != skip_label))
        entry = grouped.setdefault(key, {"buckets": []})
        suffix = name[len(family.name) :]
        if suffix == "_bucket" or (skip_label == "quantile" and not suffix):
            bound = labels.get(skip_label)
            if bound is not None:
                try:
                    entry["buckets"].append((float(bound), value))  # type: ignore[attr-defined]
                except ValueError:  # le="abc": skip the sample, not the whole scrape (found by fuzzing)
                    stats.skipped += 1
        elif suffix in ("_sum", "_count"):
            entry[suffix] = value
    return grouped


def _histogram(builder: MetricsBuilder, family: Family, extra: Attrs, stats: ConvertStats) -> None:
    points = []
    for key, entry in _series(family, "le", stats).items():
        buckets = sorted(entry["buckets"])  # type: ignore[call-overload]
        try:
            points.append(_histogram_point(buckets, entry, {**extra, **dict(key)}))
        except (ValueError, OverflowError):  # inconsistent, infinite or out of uint64 range counts
            stats.skipped += 1
    if points:
        builder.histogram(family.name, points, unit=family.unit, description=family.help)
        stats.points += len(points)


def _histogram_point(
    buckets: list[tuple[float, float]], entry: dict[str, object], attrs: Attrs
) -> HistogramPoint:
    if not buckets or not math.isinf(buckets[-1][0]):
        raise ValueError("histogram without a +Inf bucket")
    cumulative = [int(count) for _, count in buckets]
    counts = [cumulative[0]] + [b - a for a, b in itertools.pairwise(cumulative)]
    if any(c < 0 for c in counts):
        raise ValueError("bucket counts decrease")
    total = entry.get("_sum")
    return HistogramPoint(
        count=cumulative[-1],
        sum=float(total) if isinstance(total, float) and not math.isnan(total) else None,
        bounds=[bound for bound, _ in buckets[:-1]],
        bucket_counts=counts,
        attributes=attrs,
    )


def _summary(builder: MetricsBuilder, family: Family, extra: Attrs, stats: ConvertStats) -> None:
    points = []
    for key, entry in _series(family, "quantile", stats).items():
        count, total = entry.get("_count"), entry.get("_sum")
        if not isinstance(count, float) or not isinstance(total, float):
            stats.skipped += 1
            continue
        quantiles = [(q, v) for q, v in sorted(entry["buckets"]) if not math.isnan(v)]  # type: ignore[call-overload]
        try:
            points.append(SummaryPoint(int(count), total, quantiles, {**extra, **dict(key)}))
        except (ValueError, OverflowError):  # NaN, infinite or out of uint64 range count (found by fuzzing)
            stats.skipped += 1
    if points:
        builder.summary(family.name, points, unit=family.unit, description=family.help)
        stats.points += len(points)


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < 2**63 else value
