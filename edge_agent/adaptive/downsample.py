"""Folding metric fragments of one window into one aggregate per series (sans-IO).

Theory of operation. While the agent is offline (or short of disk), raw
low-priority metrics of a window (e.g. six 10 s scrapes) are folded into one
request before they reach the buffer. Each series (resource, scope, metric,
attribute set) is reduced according to what its points mean, so that
nothing that can be kept exactly is approximated:

* **gauge**: the last point is kept under the metric's own name (the series
  continues upstream, at the window's resolution), plus one ``Summary``
  point named ``<name>.downsampled`` holding the exact count and sum (so the
  average), quantile 0 = minimum and quantile 1 = maximum of the window
  (a series with a single point in the window keeps just that point, so
  folding never produces more points than it consumed).
* **cumulative sum, cumulative histogram, summary**: the last point. It
  already contains everything before it: counts stay exact.
* **delta sum**: the values are added up (ints stay ints), start of the
  first point to time of the last: exact.
* **delta histogram**: bucket counts, count and sum are added, min/max
  combined (when the bucket bounds agree; otherwise the points are kept).
* **exponential histogram**: kept unchanged.

Requests are decoded into fresh messages (reusing a parsed message leaks
under upb, see DESIGN.md) and only here, once per window. ``points_in`` and
``points_out`` are exact, so the caller can account for every point that
was folded away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DOWNSAMPLED_SUFFIX = ".downsampled"


@dataclass(frozen=True)
class Folded:
    payload: bytes
    points_in: int
    points_out: int
    first_ns: int
    last_ns: int


@dataclass
class _Series:
    points: list[Any] = field(default_factory=list)


@dataclass
class _Metric:
    template: Any  # the first Metric message seen (name, unit, description, kind flags)
    series: dict[bytes, _Series] = field(default_factory=dict)


@dataclass
class _Scope:
    resource: Any
    resource_schema: str
    scope: Any
    scope_schema: str
    metrics: dict[tuple[Any, ...], _Metric] = field(default_factory=dict)


def fold_metrics(payloads: Sequence[bytes]) -> Folded:
    """Fold serialized ``ExportMetricsServiceRequest`` payloads; see the module docstring."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    scopes: dict[tuple[bytes, bytes], _Scope] = {}
    points_in = 0
    times: list[int] = []
    for payload in payloads:
        request = ExportMetricsServiceRequest.FromString(payload)  # fresh message each time
        for rm in request.resource_metrics:
            rkey = rm.resource.SerializeToString(deterministic=True) + rm.schema_url.encode()
            for sm in rm.scope_metrics:
                skey = sm.scope.SerializeToString(deterministic=True) + sm.schema_url.encode()
                scope = scopes.get((rkey, skey))
                if scope is None:
                    scope = scopes[(rkey, skey)] = _Scope(rm.resource, rm.schema_url, sm.scope, sm.schema_url)
                for metric in sm.metrics:
                    points_in += _collect(scope, metric, times)
    out = ExportMetricsServiceRequest()
    points_out = 0
    for scope in scopes.values():
        rm = out.resource_metrics.add(schema_url=scope.resource_schema)
        rm.resource.CopyFrom(scope.resource)
        sm = rm.scope_metrics.add(schema_url=scope.scope_schema)
        sm.scope.CopyFrom(scope.scope)
        for acc in scope.metrics.values():
            points_out += _emit(sm, acc)
    # the envelope spans the collection times of every point folded in, not only the survivors
    return Folded(
        out.SerializeToString(), points_in, points_out, min(times, default=0), max(times, default=0)
    )


def _kind_key(metric: Any) -> tuple[Any, ...]:
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind) if kind else None
    temporality = getattr(data, "aggregation_temporality", 0)
    monotonic = getattr(data, "is_monotonic", False)
    return (metric.name, metric.unit, kind, temporality, monotonic)


def _collect(scope: _Scope, metric: Any, times: list[int]) -> int:
    key = _kind_key(metric)
    acc = scope.metrics.get(key)
    if acc is None:
        acc = scope.metrics[key] = _Metric(metric)
    kind = key[2]
    if kind is None:
        return 0
    points = getattr(metric, kind).data_points
    for point in points:
        attrs = b"".join(kv.SerializeToString(deterministic=True) for kv in point.attributes)
        acc.series.setdefault(attrs, _Series()).points.append(point)
        if point.time_unix_nano:
            times.append(point.time_unix_nano)
    return len(points)


def _new_metric(sm: Any, template: Any, name: str | None = None) -> Any:
    metric = sm.metrics.add(name=name or template.name, unit=template.unit, description=template.description)
    metric.metadata.extend(template.metadata)
    return metric


def _emit(sm: Any, acc: _Metric) -> int:
    """Write the folded form of one metric into ``sm``; returns the number of points written."""
    template = acc.template
    name, _, kind, temporality, monotonic = _kind_key(template)
    if kind is None:
        return 0
    metric = _new_metric(sm, template)
    data = getattr(metric, kind)
    if kind in ("sum", "histogram", "exponential_histogram"):
        data.aggregation_temporality = temporality
    if kind == "sum":
        data.is_monotonic = monotonic
    written = 0
    summaries: list[Any] = []
    for series in acc.series.values():
        points = sorted(series.points, key=lambda p: p.time_unix_nano)
        if kind == "exponential_histogram":
            folded = points
        elif kind == "sum" and temporality == 1:
            folded = [_add_deltas(points)]
        elif kind == "histogram" and temporality == 1:
            folded = _merge_histograms(points)
        else:
            folded = [points[-1]]  # gauges, cumulative data and summaries: the last point
            if kind == "gauge" and len(points) > 1:  # a lone point needs no summary: never grow
                summaries.append(_gauge_summary(points))
        for point in folded:
            data.data_points.add().CopyFrom(point)
        written += len(folded)
    if summaries:
        summary = _new_metric(sm, template, name + DOWNSAMPLED_SUFFIX).summary
        for point in summaries:
            summary.data_points.add().CopyFrom(point)
        written += len(summaries)
    return written


def _value(point: Any) -> float | int:
    value: float | int = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
    return value


def _gauge_summary(points: list[Any]) -> Any:
    from opentelemetry.proto.metrics.v1.metrics_pb2 import SummaryDataPoint

    values = [_value(p) for p in points]
    out = SummaryDataPoint(
        start_time_unix_nano=points[0].time_unix_nano,
        time_unix_nano=points[-1].time_unix_nano,
        count=len(values),
        sum=float(sum(values)),
    )
    out.attributes.extend(points[-1].attributes)
    out.quantile_values.add(quantile=0.0, value=float(min(values)))
    out.quantile_values.add(quantile=1.0, value=float(max(values)))
    return out


def _add_deltas(points: list[Any]) -> Any:
    out = type(points[-1])()
    out.CopyFrom(points[-1])
    values = [_value(p) for p in points]
    if all(p.WhichOneof("value") == "as_int" for p in points):
        out.as_int = int(sum(values))
    else:
        out.as_double = float(sum(values))
    starts = [p.start_time_unix_nano for p in points if p.start_time_unix_nano]
    out.start_time_unix_nano = min(starts) if starts else 0
    return out


def _merge_histograms(points: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for point in points:
        target = next((m for m in merged if list(m.explicit_bounds) == list(point.explicit_bounds)), None)
        if target is None:
            copy = type(point)()
            copy.CopyFrom(point)
            merged.append(copy)
            continue
        counts = [a + b for a, b in zip(target.bucket_counts, point.bucket_counts, strict=True)]
        del target.bucket_counts[:]
        target.bucket_counts.extend(counts)
        target.count += point.count
        if point.HasField("sum"):
            target.sum = target.sum + point.sum
        if point.HasField("min"):
            target.min = min(target.min, point.min) if target.HasField("min") else point.min
        if point.HasField("max"):
            target.max = max(target.max, point.max) if target.HasField("max") else point.max
        target.time_unix_nano = max(target.time_unix_nano, point.time_unix_nano)
        if point.start_time_unix_nano:
            target.start_time_unix_nano = min(
                target.start_time_unix_nano or point.start_time_unix_nano, point.start_time_unix_nano
            )
    return merged
