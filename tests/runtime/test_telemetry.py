"""Self-metric instruments and their OTLP export."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edge_agent.otlp import attributes
from edge_agent.otlp.builders import MetricsBuilder
from edge_agent.runtime.selftelemetry import add_snapshots
from edge_agent.runtime.telemetry import Registry


def test_counter_labels_and_totals() -> None:
    """Counters add per label set and refuse wrong labels or decrements."""
    reg = Registry()
    c = reg.counter("records.dropped", "d", labels=("signal", "reason"))
    c.inc(3, signal="logs", reason="disk_budget")
    c.inc(2, signal="logs", reason="disk_budget")
    c.inc(1, signal="metrics", reason="http_400")
    assert c.value(signal="logs", reason="disk_budget") == 5
    assert c.total() == 6
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(signal="logs")
    with pytest.raises(ValueError, match="only go up"):
        c.inc(-1, signal="logs", reason="x")


def test_registering_twice_returns_same_instrument() -> None:
    """The same name and labels give the same counter; a conflicting shape is an error."""
    reg = Registry()
    a = reg.counter("x", "d", labels=("a",))
    assert reg.counter("x", "d", labels=("a",)) is a
    with pytest.raises(ValueError, match="already registered"):
        reg.gauge("x", "d")


def test_histogram_buckets() -> None:
    """Observations land in the first bucket whose bound is >= the value."""
    reg = Registry()
    h = reg.histogram("lat", "d", bounds=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    (sample,) = h.samples()
    assert sample.bucket_counts == (2, 1, 1)
    assert sample.count == 4
    assert sample.value == pytest.approx(3.65)


def test_snapshots_export_as_otlp() -> None:
    """Counters become cumulative monotonic sums, gauges gauges, histograms histograms, under edge_agent.*."""
    reg = Registry()
    reg.counter("records.exported", "e", labels=("signal",)).inc(7, signal="metrics")
    reg.gauge("queue.bytes", "q", unit="By").set(123)
    reg.histogram("export.latency", "l").observe(0.2)
    builder = MetricsBuilder(
        attributes.resource({"service.name": "edge-agent"}), attributes.scope("s"), time_ns=5
    )
    add_snapshots(builder, reg.collect())
    req = ExportMetricsServiceRequest.FromString(builder.build().payload)
    metrics = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
    exported = metrics["edge_agent.records.exported"]
    assert exported.sum.is_monotonic
    assert exported.sum.data_points[0].as_int == 7
    assert exported.sum.data_points[0].attributes[0].value.string_value == "metrics"
    assert metrics["edge_agent.queue.bytes"].unit == "By"
    assert metrics["edge_agent.queue.bytes"].gauge.data_points[0].as_int == 123
    assert metrics["edge_agent.export.latency"].histogram.data_points[0].count == 1
