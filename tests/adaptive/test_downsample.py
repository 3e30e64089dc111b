"""Folding a window of metric fragments: what each kind keeps, and exact point counts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edge_agent.adaptive.downsample import fold_metrics
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import HistogramPoint, MetricsBuilder, SummaryPoint, Temporality

RESOURCE = attributes.resource({"service.name": "t"})
OTHER_RESOURCE = attributes.resource({"service.name": "u"})
SCOPE = attributes.scope("test")
S = 10**9


def builder(t: int, resource: bytes = RESOURCE) -> MetricsBuilder:
    return MetricsBuilder(resource, SCOPE, time_ns=t * S, start_time_ns=S)


def metrics(payload: bytes) -> dict[str, Any]:
    """name -> Metric of a folded request (single resource/scope)."""
    request = ExportMetricsServiceRequest.FromString(payload)
    return {m.name: m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def test_gauge_keeps_last_and_exact_summary() -> None:
    """Six 10 s gauge points fold into the last point plus a summary with exact count, sum, min, max."""
    values = [3.0, 1.5, 7.25, 2.0, 4.0, 5.0]
    payloads = []
    for i, v in enumerate(values):
        b = builder(10 * i + 10)
        b.gauge("temp", [({"room": "a"}, v)], unit="Cel")
        payloads.append(b.build().payload)
    folded = fold_metrics(payloads)
    assert (folded.points_in, folded.points_out) == (6, 2)
    assert (folded.first_ns, folded.last_ns) == (10 * S, 60 * S)
    got = metrics(folded.payload)
    (last,) = got["temp"].gauge.data_points
    assert (last.as_double, last.time_unix_nano, got["temp"].unit) == (5.0, 60 * S, "Cel")
    (summary,) = got["temp.downsampled"].summary.data_points
    assert (summary.count, summary.sum) == (6, sum(values))
    assert [(q.quantile, q.value) for q in summary.quantile_values] == [(0.0, 1.5), (1.0, 7.25)]
    assert (summary.start_time_unix_nano, summary.time_unix_nano) == (10 * S, 60 * S)
    assert [(kv.key, kv.value.string_value) for kv in summary.attributes] == [("room", "a")]


def test_cumulative_sum_keeps_the_last_total() -> None:
    """A cumulative counter keeps its last point: the total is exact, start time preserved."""
    payloads = []
    for i in range(6):
        b = builder(10 * i)
        b.sum("requests", [({"code": "200"}, 100 + i * 7)])
        payloads.append(b.build().payload)
    got = metrics(fold_metrics(payloads).payload)["requests"].sum
    (point,) = got.data_points
    assert (point.as_int, point.start_time_unix_nano, point.time_unix_nano) == (135, S, 50 * S)
    assert (got.is_monotonic, got.aggregation_temporality) == (True, 2)


def test_delta_sums_add_up() -> None:
    """Delta sums are added: ints stay ints, spanning the first start to the last time."""
    payloads = []
    for i in range(4):
        b = builder(10 * i + 10)
        b.sum("bytes", 1000 + i, temporality=Temporality.DELTA, start_time_ns=(10 * i) * S + 1)
        payloads.append(b.build().payload)
    got = metrics(fold_metrics(payloads).payload)["bytes"].sum
    (point,) = got.data_points
    assert (point.as_int, point.start_time_unix_nano, point.time_unix_nano) == (4006, 1, 40 * S)
    assert got.aggregation_temporality == 1


def test_delta_histograms_merge_counts() -> None:
    """Delta histograms with equal bounds merge bucket counts, count, sum, min and max exactly."""
    payloads = []
    for i, counts in enumerate(([1, 2, 0], [0, 1, 3], [2, 0, 0])):
        b = builder(10 * i)
        point = HistogramPoint(
            sum(counts), float(10 * i), (1.0, 5.0), counts, min=0.1 * (i + 1), max=float(i + 6)
        )
        b.histogram("latency", [point], temporality=Temporality.DELTA)
        payloads.append(b.build().payload)
    folded = fold_metrics(payloads)
    (point,) = metrics(folded.payload)["latency"].histogram.data_points
    assert list(point.bucket_counts) == [3, 3, 3]
    assert (point.count, point.sum, point.min, point.max) == (9, 30.0, 0.1, 8.0)
    assert (folded.points_in, folded.points_out) == (3, 1)


def test_cumulative_histograms_and_summaries_keep_the_last() -> None:
    """Cumulative histograms and summaries already hold everything before them: the last is kept."""
    payloads = []
    for i in range(3):
        b = builder(10 * i)
        b.histogram("h", [HistogramPoint(i + 1, float(i), (1.0,), [i + 1, 0])])
        b.summary("s", [SummaryPoint(i + 1, float(i), ((0.5, 1.0),))])
        payloads.append(b.build().payload)
    got = metrics(fold_metrics(payloads).payload)
    assert [p.count for p in got["h"].histogram.data_points] == [3]
    assert [p.count for p in got["s"].summary.data_points] == [3]


def test_exponential_histograms_pass_through() -> None:
    """Exponential histograms are kept point for point."""
    payloads = []
    for i in range(2):
        request = ExportMetricsServiceRequest()
        metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="exp")
        metric.exponential_histogram.data_points.add(count=i + 1, time_unix_nano=i * S)
        payloads.append(request.SerializeToString())
    folded = fold_metrics(payloads)
    assert (folded.points_in, folded.points_out) == (2, 2)


def test_resources_and_series_stay_apart() -> None:
    """Points of different resources or attribute sets are never folded together."""
    payloads = []
    for i in range(3):
        for resource in (RESOURCE, OTHER_RESOURCE):
            b = builder(10 * i, resource)
            b.gauge("g", [({"k": "1"}, 1.0), ({"k": "2"}, 2.0)])
            payloads.append(b.build().payload)
    folded = fold_metrics(payloads)
    request = ExportMetricsServiceRequest.FromString(folded.payload)
    assert len(request.resource_metrics) == 2
    assert (folded.points_in, folded.points_out) == (12, 8)  # per resource and series: last + summary


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=-1e6, max_value=1e6)),
        min_size=1,
        max_size=40,
    )
)
def test_gauge_counts_and_sums_are_exact(points: list[tuple[str, float]]) -> None:
    """For any gauge series: never more points out than in; every series keeps its last value;
    summaries (series with several points) hold exact counts, sums, minima and maxima."""
    payloads = []
    for i, (series, value) in enumerate(points):
        b = builder(i + 1)
        b.gauge("g", [({"s": series}, value)])
        payloads.append(b.build().payload)
    folded = fold_metrics(payloads)
    assert folded.points_in == len(points)
    assert folded.points_out <= folded.points_in
    got = metrics(folded.payload)
    per_series = {name: [v for s, v in points if s == name] for name, _ in points}
    last = {p.attributes[0].value.string_value: p.as_double for p in got["g"].gauge.data_points}
    assert last == {name: values[-1] for name, values in per_series.items()}
    summaries = got["g.downsampled"].summary.data_points if "g.downsampled" in got else []
    by_series = {p.attributes[0].value.string_value: p for p in summaries}
    assert set(by_series) == {name for name, values in per_series.items() if len(values) > 1}
    for name, p in by_series.items():
        values = per_series[name]
        assert p.count == len(values)
        assert p.sum == pytest.approx(sum(values))
        assert [q.value for q in p.quantile_values] == [min(values), max(values)]
    assert folded.points_out == len(last) + len(by_series)
