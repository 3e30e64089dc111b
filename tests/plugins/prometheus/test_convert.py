"""Converting prometheus-client output to OTLP, checked by decoding with opentelemetry-proto."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from edge_agent.otlp import attributes
from edge_agent.otlp.builders import MetricsBuilder
from edge_agent_plugins.prometheus.convert import add_families
from edge_agent_plugins.prometheus.textparse import parse
from tests.plugins.prometheus.test_textparse import registry


def _convert(text: str) -> tuple[dict[str, object], int, int]:
    builder = MetricsBuilder(attributes.resource({}), attributes.scope("s"), time_ns=10, start_time_ns=5)
    stats = add_families(builder, parse(text), {"job": "j", "instance": "h:1"})
    request = ExportMetricsServiceRequest.FromString(builder.build().payload)
    return (
        {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics},
        stats.points,
        stats.skipped,
    )


def _attrs(point: object) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}  # type: ignore[attr-defined]


def test_counter_gauge_histogram_summary_info() -> None:
    """Counters are cumulative monotonic sums, histograms de-accumulate buckets, summaries keep quantiles."""
    metrics, points, skipped = _convert(generate_latest(registry()).decode())
    counter = metrics["http_requests_total"].sum  # type: ignore[attr-defined]
    assert counter.is_monotonic and counter.aggregation_temporality == 2
    by_method = {_attrs(p)["method"]: p.as_int for p in counter.data_points}
    assert by_method == {"GET": 3, "POST": 1}
    assert (
        _attrs(counter.data_points[0])["job"] == "j" and _attrs(counter.data_points[0])["instance"] == "h:1"
    )
    hist = metrics["latency_seconds"].histogram.data_points[0]  # type: ignore[attr-defined]
    assert list(hist.explicit_bounds) == [0.1, 1.0] and list(hist.bucket_counts) == [1, 2, 1]
    assert hist.count == 4 and abs(hist.sum - 4.25) < 1e-9
    summary = metrics["payload_bytes"].summary.data_points[0]  # type: ignore[attr-defined]
    assert (summary.count, summary.sum) == (1, 512)
    assert metrics["temperature_celsius"].gauge.data_points[0].as_double == 41.5  # type: ignore[attr-defined]
    assert metrics["build_info"].gauge.data_points[0].as_int == 1  # type: ignore[attr-defined]
    assert skipped == 0 and points >= 6


def test_openmetrics_counter_drops_created() -> None:
    """OpenMetrics counters are named by their family and _created samples are not points."""
    metrics, _, _ = _convert(generate_openmetrics(registry()).decode())
    counter = metrics["http_requests"].sum  # type: ignore[attr-defined]
    assert sorted(p.as_int for p in counter.data_points) == [1, 3]


def test_inconsistent_histogram_is_skipped_and_counted() -> None:
    """A histogram whose cumulative buckets decrease is skipped (counted), the rest is kept."""
    page = '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 3\nh_count 3\nh_sum 1\nok 1\n'
    metrics, _, skipped = _convert(page)
    assert skipped == 1 and "h" not in metrics and "ok" in metrics


def test_bucket_bound_that_is_not_a_number_is_skipped_not_fatal() -> None:
    """le="abc" (found by fuzzing) skips that bucket and counts it; the scrape's other metrics survive."""
    page = '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le=" EO+Inf"} 3\nh_count 3\nh_sum 4\nok 1\n'
    metrics, _, skipped = _convert(page)
    assert skipped >= 1 and "ok" in metrics


def test_counts_beyond_uint64_or_infinite_are_skipped() -> None:
    """Histogram and summary counts that OTLP cannot carry (found by fuzzing) skip the point, not the scrape."""
    page = (
        '# TYPE h histogram\nh_bucket{le="+Inf"} 3555555555555555555555\nh_count 3\n'
        '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count +Inf\nok 1\n'
    )
    metrics, _, skipped = _convert(page)
    assert skipped == 2 and set(metrics) == {"ok"}
