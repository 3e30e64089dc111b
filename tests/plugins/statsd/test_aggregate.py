"""Aggregation of StatsD samples into OTLP metrics, checked by decoding the fragment."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edge_agent import Temporality
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import MetricsBuilder
from edge_agent_plugins.statsd.aggregate import Aggregator
from edge_agent_plugins.statsd.parse import parse_line


def _flush(agg: Aggregator) -> dict[str, Any]:
    builder = MetricsBuilder(attributes.resource({}), attributes.scope("s"), time_ns=2_000)
    agg.flush(builder, start_time_ns=1_000)
    if builder.is_empty():
        return {}
    request = ExportMetricsServiceRequest.FromString(builder.build().payload)
    return {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}


def _feed(agg: Aggregator, *lines: str) -> None:
    for line in lines:
        assert agg.add(parse_line(line))


def test_counters_scale_by_rate_and_reset_per_interval_when_delta() -> None:
    """Counters add value/rate; delta temporality starts from zero each interval."""
    agg = Aggregator((10.0,))
    _feed(agg, "hits:1|c", "hits:2|c|@0.5", "hits:1|c|#env:prod")
    metrics = _flush(agg)
    points = {
        tuple((a.key, a.value.string_value) for a in p.attributes): p.as_int
        for p in metrics["hits"].sum.data_points
    }
    assert points == {(): 5, (("env", "prod"),): 1}
    assert (
        metrics["hits"].sum.aggregation_temporality == Temporality.DELTA and metrics["hits"].sum.is_monotonic
    )
    assert metrics["hits"].sum.data_points[0].start_time_unix_nano == 1_000
    assert _flush(agg) == {}


def test_cumulative_counters_keep_running_totals() -> None:
    """With cumulative temporality counters keep growing across intervals."""
    agg = Aggregator((10.0,), Temporality.CUMULATIVE)
    _feed(agg, "hits:3|c")
    _flush(agg)
    _feed(agg, "hits:4|c")
    metric = _flush(agg)["hits"]
    assert (
        metric.sum.data_points[0].as_int == 7 and metric.sum.aggregation_temporality == Temporality.CUMULATIVE
    )


def test_gauges_last_value_and_deltas_across_intervals() -> None:
    """Gauges report the last value; +/- adjust the value kept from earlier intervals."""
    agg = Aggregator((10.0,))
    _feed(agg, "temp:20|g", "temp:25|g")
    assert _flush(agg)["temp"].gauge.data_points[0].as_int == 25
    _feed(agg, "temp:-5|g", "temp:+1.5|g")
    assert _flush(agg)["temp"].gauge.data_points[0].as_double == 21.5
    assert "temp" not in _flush(agg)  # not updated: not reported


def test_sets_count_distinct_members() -> None:
    """A set reports the number of distinct members seen in the interval."""
    agg = Aggregator((10.0,))
    _feed(agg, "users:a|s", "users:b|s", "users:a|s")
    assert _flush(agg)["users"].gauge.data_points[0].as_int == 2


def test_timers_become_histograms_with_rates() -> None:
    """Timers fill explicit buckets; a 0.5 sample rate doubles the weight; min/max/sum are kept."""
    agg = Aggregator((10.0, 100.0))
    _feed(agg, "rt:5|ms", "rt:50|ms|@0.5", "rt:500|ms", "size:1:2|h")
    metrics = _flush(agg)
    point = metrics["rt"].histogram.data_points[0]
    assert list(point.bucket_counts) == [1, 2, 1] and point.count == 4
    assert (point.sum, point.min, point.max) == (5 + 100 + 500, 5, 500)
    assert list(metrics["rt"].histogram.data_points[0].explicit_bounds) == [10.0, 100.0]
    assert metrics["rt"].histogram.aggregation_temporality == Temporality.DELTA
    assert metrics["size"].histogram.data_points[0].count == 2  # DogStatsD multi-value line


def test_series_limit_refuses_new_series() -> None:
    """Beyond max_series new series are refused (the caller counts them); existing ones still update."""
    agg = Aggregator((10.0,), max_series=2)
    assert agg.add(parse_line("a:1|c")) and agg.add(parse_line("b:1|c"))
    assert not agg.add(parse_line("c:1|c"))
    assert agg.add(parse_line("a:1|c"))
