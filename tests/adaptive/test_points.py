"""Reading watched number points from encoded OTLP without the generated classes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edge_agent.adaptive.points import number_points
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import HistogramPoint, MetricsBuilder, Temporality
from edge_agent.otlp.wire import WireError

RESOURCE = attributes.resource({"service.name": "t"})
SCOPE = attributes.scope("s")


def test_gauges_sums_and_their_attributes() -> None:
    """Gauges and sums of the named metrics come out with values, times, attributes and whether
    they are counters; other metrics and histograms are skipped."""
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=5_000, start_time_ns=1)
    b.gauge("cpu", [({"state": "user", "cpu": 0}, 0.25), ({"state": "idle", "ok": True}, 0.75)])
    b.sum("errors", 42)
    b.sum("usage", -3, monotonic=False)
    b.sum("delta", 7, temporality=Temporality.DELTA)
    b.gauge("ignored", 1.0)
    b.histogram("cpu", [HistogramPoint(1, 1.0, (1.0,), [1, 0])])
    points = list(number_points(b.build().payload, {"cpu", "errors", "usage", "delta"}))
    got = [(p.metric, p.attributes, p.value, p.time_ns, p.counter) for p in points]
    assert got == [
        ("cpu", {"state": "user", "cpu": "0"}, 0.25, 5_000, False),
        ("cpu", {"state": "idle", "ok": "True"}, 0.75, 5_000, False),
        ("errors", {}, 42.0, 5_000, True),
        ("usage", {}, -3.0, 5_000, False),
        ("delta", {}, 7.0, 5_000, False),
    ]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1)),
            st.dictionaries(st.sampled_from(["k", "l"]), st.text(max_size=5), max_size=2),
        ),
        max_size=20,
    )
)
def test_matches_the_generated_classes(points: list[tuple[str, float | int, dict[str, str]]]) -> None:
    """For any gauges, the wire reader returns what opentelemetry-proto parses."""
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=7)
    for name, value, attrs in points:
        b.gauge(name, [(attrs, value)])
    payload = b.build().payload
    ours = [(p.metric, p.attributes, p.value) for p in number_points(payload, {"a", "b"})]
    request = ExportMetricsServiceRequest.FromString(payload)
    theirs = [
        (
            m.name,
            {kv.key: kv.value.string_value for kv in dp.attributes},
            dp.as_double if dp.HasField("as_double") else float(dp.as_int),
        )
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in {"a", "b"}
        for dp in m.gauge.data_points
    ]
    assert ours == theirs


def test_malformed_bytes_raise_wire_error() -> None:
    """Truncated input is a WireError, not a crash deeper down."""
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=7)
    b.gauge("a", 1.0)
    with pytest.raises(WireError):
        list(number_points(b.build().payload[:-3], {"a"}))
