"""OTLP body validation and OTLP/JSON conversion, checked against opentelemetry-proto."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edge_agent import OtlpFormatError, Signal, otlp_json_to_protobuf, validate_otlp
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder

RESOURCE = attributes.resource({"service.name": "svc"})
SCOPE = attributes.scope("s")

TRACE_JSON = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "manual"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "GET /",
                            "kind": 2,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": 1544712661000000000,
                            "attributes": [{"key": "http.status", "value": {"intValue": "200"}}],
                            "status": {"code": 1},
                            "futureField": "ignored",
                        },
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b175",
                            "name": "x",
                        },
                    ],
                }
            ],
        }
    ]
}


def _spans() -> bytes:
    b = TracesBuilder(RESOURCE, SCOPE)
    for i in range(3):
        b.span("s", trace_id=bytes(16), span_id=bytes([i + 1] * 8), start_ns=1, end_ns=2)
    return b.build().payload


def test_validate_counts_records_of_each_signal() -> None:
    """Valid protobuf bodies are accepted and their spans, data points and log records counted."""
    m = MetricsBuilder(RESOURCE, SCOPE, time_ns=5)
    m.gauge("g", [({"a": "1"}, 1.0), ({"a": "2"}, 2.0)])
    m.sum("c", 3)
    logs = LogsBuilder(RESOURCE, SCOPE)
    logs.lines([b"a", b"b", b"c", b"d"], observed_time_ns=1)
    assert validate_otlp(Signal.TRACES, _spans()) == 3
    assert validate_otlp(Signal.METRICS, m.build().payload) == 3
    assert validate_otlp(Signal.LOGS, logs.build().payload) == 4
    assert validate_otlp(Signal.LOGS, b"") == 0


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (_spans()[:-3], "ExportTraceServiceRequest"),  # truncated
        (b"\xff" * 64, "not a valid protobuf"),  # garbage
        (b"\x0a\x05\x12\x03\x0a\x01\xff", "not a valid protobuf"),  # invalid UTF-8 in a string
    ],
)
def test_validate_rejects_malformed_protobuf(payload: bytes, needle: str) -> None:
    """Truncated bodies, garbage and invalid UTF-8 strings raise OtlpFormatError naming the message type."""
    with pytest.raises(OtlpFormatError, match=needle):
        validate_otlp(Signal.TRACES, payload)


def test_json_hex_ids_integer_enums_and_string_int64() -> None:
    """OTLP/JSON with hex ids, integer enums, int64 as string or number converts exactly."""
    payload, records = otlp_json_to_protobuf(Signal.TRACES, json.dumps(TRACE_JSON).encode())
    assert records == 2
    span = ExportTraceServiceRequest.FromString(payload).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert span.kind == 2 and span.status.code == 1
    assert span.start_time_unix_nano == 1544712660000000000
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.attributes[0].value.int_value == 200


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"resourceSpans": "nope"}', "does not match"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}', "does not match"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "hex string"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abcd"}]}]}]}', "8 bytes"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "does not match",
        ),
        (b"\xff\xfe garbage", "not valid JSON"),
    ],
)
def test_json_wrong_types_are_clear_errors(body: bytes, needle: str) -> None:
    """Malformed JSON, wrong value types and bad ids raise OtlpFormatError with the reason."""
    with pytest.raises(OtlpFormatError, match=needle):
        otlp_json_to_protobuf(Signal.TRACES, body)


def test_json_nesting_is_bounded() -> None:
    """Deeply nested JSON is refused instead of exhausting the stack."""
    deep = b'{"a": ' * 100 + b"1" + b"}" * 100
    with pytest.raises(OtlpFormatError, match="nests deeper"):
        otlp_json_to_protobuf(Signal.LOGS, deep)


def test_repeated_validation_does_not_grow_memory() -> None:
    """Validating 300 x 77 KB requests keeps RSS flat (fresh messages; DESIGN.md's upb reuse trap)."""
    import psutil

    b = TracesBuilder(RESOURCE, SCOPE)
    for i in range(400):
        b.span(
            "op" * 20,
            trace_id=bytes(16),
            span_id=i.to_bytes(8, "big"),
            start_ns=1,
            end_ns=2,
            attributes={"k": "v" * 100},
        )
    payload = b.build().payload
    assert len(payload) > 60_000
    process = psutil.Process()
    for _ in range(20):  # warm up allocator pools
        validate_otlp(Signal.TRACES, payload)
    before = process.memory_info().rss
    for _ in range(300):
        validate_otlp(Signal.TRACES, payload)
    assert process.memory_info().rss - before < 8 << 20
