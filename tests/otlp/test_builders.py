"""The hand-written OTLP encoders produce bytes that opentelemetry-proto parses back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from edge_agent import HistogramPoint, Severity, Signal, SpanKind, StatusCode, SummaryPoint, Temporality
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder

RESOURCE = attributes.resource({"service.name": "edge-agent", "host.name": "dev-1"})
SCOPE = attributes.scope("edge_agent.test", "1.2.3")
T0 = 1_700_000_000_000_000_000


def _attrs(kvs: object) -> dict[str, object]:
    out = {}
    for kv in kvs:  # type: ignore[attr-defined]
        field = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, field)
    return out


def test_metrics_round_trip_names_units_attributes() -> None:
    """Gauges, sums, histograms and summaries parse back with their names, units and values."""
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=T0, start_time_ns=T0 - 10)
    b.gauge("system.memory.utilization", [({"system.memory.state": "used"}, 0.25)], unit="1")
    b.sum("system.network.io", [({"network.io.direction": "receive"}, 1234)], unit="By", start_time_ns=T0 - 5)
    b.sum("system.memory.usage", 99, unit="By", monotonic=False, temporality=Temporality.DELTA)
    b.histogram(
        "edge_agent.export.latency",
        [HistogramPoint(count=3, sum=0.6, bounds=(0.1, 1.0), bucket_counts=(1, 2, 0), min=0.05, max=0.5)],
        unit="s",
    )
    b.summary("rpc.duration", [SummaryPoint(count=2, sum=3.0, quantiles=((0.5, 1.0), (0.99, 2.0)))], unit="s")
    frag = b.build()
    assert frag.signal is Signal.METRICS
    assert frag.records == 5
    req = ExportMetricsServiceRequest.FromString(frag.payload)
    (rm,) = req.resource_metrics
    assert _attrs(rm.resource.attributes) == {"service.name": "edge-agent", "host.name": "dev-1"}
    (sm,) = rm.scope_metrics
    assert (sm.scope.name, sm.scope.version) == ("edge_agent.test", "1.2.3")
    gauge, net, mem, hist, summ = sm.metrics
    assert (gauge.name, gauge.unit) == ("system.memory.utilization", "1")
    assert gauge.gauge.data_points[0].as_double == 0.25
    assert gauge.gauge.data_points[0].time_unix_nano == T0
    assert _attrs(gauge.gauge.data_points[0].attributes) == {"system.memory.state": "used"}
    assert net.sum.is_monotonic and net.sum.aggregation_temporality == 2
    assert net.sum.data_points[0].as_int == 1234
    assert net.sum.data_points[0].start_time_unix_nano == T0 - 5
    assert not mem.sum.is_monotonic and mem.sum.aggregation_temporality == 1
    assert mem.sum.data_points[0].start_time_unix_nano == T0 - 10
    hp = hist.histogram.data_points[0]
    assert (hp.count, hp.sum, list(hp.bucket_counts), list(hp.explicit_bounds)) == (
        3,
        0.6,
        [1, 2, 0],
        [0.1, 1.0],
    )
    assert (hp.min, hp.max) == (0.05, 0.5)
    sp = summ.summary.data_points[0]
    assert [(q.quantile, q.value) for q in sp.quantile_values] == [(0.5, 1.0), (0.99, 2.0)]


def test_logs_round_trip() -> None:
    """Log records keep body, severity, attributes, timestamps and trace context."""
    b = LogsBuilder(RESOURCE, SCOPE)
    b.record(
        "disk full",
        time_ns=T0,
        observed_time_ns=T0 + 1,
        severity=Severity.ERROR,
        severity_text="ERROR",
        attributes={"log.file.name": "app.log"},
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
    )
    b.record({"structured": [1, "two", 3.0]}, observed_time_ns=T0 + 2)
    frag = b.build()
    assert (frag.records, frag.first_ns, frag.last_ns) == (2, T0, T0 + 2)
    req = ExportLogsServiceRequest.FromString(frag.payload)
    first, second = req.resource_logs[0].scope_logs[0].log_records
    assert first.body.string_value == "disk full"
    assert (first.severity_number, first.severity_text) == (17, "ERROR")
    assert (first.time_unix_nano, first.observed_time_unix_nano) == (T0, T0 + 1)
    assert first.trace_id == b"\x01" * 16 and first.span_id == b"\x02" * 8
    assert _attrs(first.attributes) == {"log.file.name": "app.log"}
    kv = second.body.kvlist_value.values[0]
    assert kv.key == "structured"
    assert [v.WhichOneof("value") for v in kv.value.array_value.values] == [
        "int_value",
        "string_value",
        "double_value",
    ]


def test_spans_round_trip() -> None:
    """Spans keep ids, kind, timing, attributes and status."""
    b = TracesBuilder(RESOURCE, SCOPE)
    b.span(
        "GET /",
        trace_id=b"\xaa" * 16,
        span_id=b"\xbb" * 8,
        parent_span_id=b"\xcc" * 8,
        start_ns=T0,
        end_ns=T0 + 500,
        kind=SpanKind.SERVER,
        attributes={"http.response.status_code": 200},
        status=StatusCode.ERROR,
        status_message="boom",
    )
    frag = b.build()
    span = ExportTraceServiceRequest.FromString(frag.payload).resource_spans[0].scope_spans[0].spans[0]
    assert (span.name, span.kind, span.start_time_unix_nano, span.end_time_unix_nano) == (
        "GET /",
        2,
        T0,
        T0 + 500,
    )
    assert span.parent_span_id == b"\xcc" * 8
    assert (span.status.code, span.status.message) == (2, "boom")
    assert _attrs(span.attributes) == {"http.response.status_code": 200}


def test_span_rejects_bad_ids() -> None:
    """Ids of the wrong length are refused instead of producing invalid OTLP."""
    b = TracesBuilder(RESOURCE, SCOPE)
    with pytest.raises(ValueError, match="16 bytes"):
        b.span("x", trace_id=b"short", span_id=b"\x01" * 8, start_ns=1, end_ns=2)


def test_concatenated_fragments_merge() -> None:
    """Two fragments concatenated parse as one request holding both (DESIGN.md fact)."""
    a = MetricsBuilder(RESOURCE, SCOPE, time_ns=T0)
    a.gauge("a", 1)
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=T0)
    b.gauge("b", [({"k": "1"}, 2), ({"k": "2"}, 3)])
    req = ExportMetricsServiceRequest.FromString(a.build().payload + b.build().payload)
    names = [m.name for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert names == ["a", "b"]


scalar = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=10),
)
values = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _decode(v: AnyValue) -> object:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_decode(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _decode(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _normalize(v: object) -> object:
    if isinstance(v, tuple | list):
        return [_normalize(x) for x in v]
    if isinstance(v, dict):
        return {k: _normalize(x) for k, x in v.items()}
    return v


@given(values)
def test_any_value_round_trips(value: object) -> None:
    """Any attribute value the API accepts decodes to the same value."""
    assert _decode(AnyValue.FromString(attributes.any_value(value))) == _normalize(value)  # type: ignore[arg-type]


@given(st.lists(st.text(max_size=300), max_size=50), st.integers(min_value=1, max_value=2**63))
def test_lines_fast_path_round_trips(texts: list[str], observed: int) -> None:
    """LogsBuilder.lines encodes one record per line that parses back with body, time and attributes."""
    b = LogsBuilder(RESOURCE, SCOPE)
    b.lines(
        [t.encode() for t in texts], observed_time_ns=observed, severity=Severity.WARN, attributes={"f": "x"}
    )
    frag = b.build()
    assert frag.records == len(texts)
    req = ExportLogsServiceRequest.FromString(frag.payload)
    records = [r for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert [r.body.string_value for r in records] == texts
    assert all(r.observed_time_unix_nano == observed and r.severity_number == 13 for r in records)
    assert all(_attrs(r.attributes) == {"f": "x"} for r in records)


def test_lines_fast_path_long_line() -> None:
    """A line longer than the header cache bound (64 KiB) still encodes correctly."""
    b = LogsBuilder(RESOURCE, SCOPE)
    b.lines([b"x" * 200_000, b"short"], observed_time_ns=1)
    req = ExportLogsServiceRequest.FromString(b.build().payload)
    bodies = [r.body.string_value for r in req.resource_logs[0].scope_logs[0].log_records]
    assert [len(x) for x in bodies] == [200_000, 5]


number = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False))
attr_sets = st.dictionaries(st.text(max_size=8), st.text(max_size=80), max_size=4)


@given(st.lists(st.tuples(attr_sets, number), max_size=8), st.integers(min_value=0, max_value=2**64 - 1))
def test_number_points_round_trip_with_shared_attribute_objects(
    points: list[tuple[dict[str, str], int | float]], start: int
) -> None:
    """Gauge and sum points parse back exactly, also when one attribute object is reused in both kinds."""
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=T0)
    b.gauge("g", points)
    b.sum("s", points, start_time_ns=start)
    b.gauge("g2", points)  # the same dicts again: served from the encoders' identity cache
    metrics = (
        ExportMetricsServiceRequest.FromString(b.build().payload).resource_metrics[0].scope_metrics[0].metrics
    )
    if not points:
        assert not metrics  # a call without points adds no metric
        return
    g, s, g2 = metrics
    for metric, data in ((g, g.gauge), (s, s.sum), (g2, g2.gauge)):
        assert len(data.data_points) == len(points), metric.name
        for dp, (attrs, value) in zip(data.data_points, points, strict=True):
            assert _attrs(dp.attributes) == attrs
            assert dp.time_unix_nano == T0
            assert dp.start_time_unix_nano == (start if metric is s else 0)
            assert dp.WhichOneof("value") == ("as_int" if type(value) is int else "as_double")
            assert (dp.as_int if type(value) is int else dp.as_double) == value
