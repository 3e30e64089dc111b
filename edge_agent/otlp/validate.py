"""Validation of untrusted OTLP request bodies, and the OTLP/JSON to protobuf conversion.

A receiver must never forward bytes it has not checked: one malformed
request concatenated into a batch would make the upstream refuse the whole
batch. :func:`validate_otlp` parses protobuf bytes into a *fresh* generated
message (``Msg.FromString``; reusing a message grows RSS without bound under
upb, see DESIGN.md), which checks the wire format, field types and UTF-8 of
every string, and counts the records. The caller then stores the bytes it
received, unchanged: validation never re-encodes.

OTLP/JSON is the protobuf JSON mapping with three differences the generic
``json_format`` parser does not know (OTLP specification, "JSON Protobuf
Encoding"): trace and span ids are hex strings instead of base64, enums are
integers (``json_format`` accepts those), and unknown fields must be
ignored. :func:`otlp_json_to_protobuf` rewrites the id fields, parses into a
fresh message and serializes it, because the buffer stores protobuf only.

The generated pb2 modules cost ~5 MiB of RSS, so they are imported on first
use, not with this module.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from edge_agent.errors import EdgeAgentError
from edge_agent.otlp.fragment import Signal

__all__ = ["OtlpFormatError", "count_records", "otlp_json_to_protobuf", "validate_otlp"]

# Field names (both JSON spellings) whose values OTLP/JSON writes as hex.
_HEX_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_ID_LENGTHS = {"traceId": 16, "trace_id": 16}  # everything else in the set is a span id (8)
_MAX_JSON_DEPTH = 64  # AnyValue nests; bound the walk so hostile input cannot exhaust the stack


class OtlpFormatError(EdgeAgentError):
    """A request body is not a valid OTLP ``Export*ServiceRequest`` (the message says why)."""


def _request_class(signal: Signal) -> Any:
    if signal is Signal.TRACES:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        return ExportTraceServiceRequest
    if signal is Signal.METRICS:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        return ExportMetricsServiceRequest
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return ExportLogsServiceRequest


def count_records(signal: Signal, message: Any) -> int:
    """Spans, metric data points or log records in a parsed request message."""
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points) if kind else 0
    return total


def validate_otlp(signal: Signal, payload: bytes) -> int:
    """Check that ``payload`` is a valid ``Export*ServiceRequest`` of ``signal``; return its record count.

    Raises :class:`OtlpFormatError` naming what is wrong. CPU-bound (~350
    MB/s): call it from a worker thread for large bodies.
    """
    from google.protobuf.message import DecodeError

    cls = _request_class(signal)
    try:
        message = cls.FromString(payload)  # always a fresh message: see the module docstring
    except DecodeError as exc:
        raise OtlpFormatError(
            f"body is not a valid protobuf {cls.DESCRIPTOR.name} ({len(payload)} bytes): {exc}"
        ) from None
    return count_records(signal, message)


def otlp_json_to_protobuf(signal: Signal, body: bytes) -> tuple[bytes, int]:
    """Convert an OTLP/JSON request body to protobuf bytes; return ``(payload, records)``.

    Raises :class:`OtlpFormatError` for invalid JSON, wrong value types or
    malformed ids, with the field path where the parser reports one.
    """
    from google.protobuf import json_format

    cls = _request_class(signal)
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OtlpFormatError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise OtlpFormatError(f"expected a JSON object ({cls.DESCRIPTOR.name}), got {kind}")
    _hex_ids_to_base64(document, 0)
    message = cls()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpFormatError(f"JSON does not match {cls.DESCRIPTOR.name}: {exc}") from None
    return message.SerializeToString(), count_records(signal, message)


def _hex_ids_to_base64(node: Any, depth: int) -> None:
    """Rewrite OTLP/JSON hex ids in place into the base64 the generic JSON mapping expects."""
    if depth > _MAX_JSON_DEPTH:
        raise OtlpFormatError(f"JSON nests deeper than {_MAX_JSON_DEPTH} levels")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_ID_FIELDS and isinstance(value, str):
                node[key] = _hex_to_base64(key, value)
            elif isinstance(value, dict | list):
                _hex_ids_to_base64(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _hex_ids_to_base64(item, depth + 1)


def _hex_to_base64(key: str, value: str) -> str:
    if not value:
        return value
    expected = _ID_LENGTHS.get(key, 8)
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise OtlpFormatError(f"{key} must be a hex string (OTLP/JSON), got {value[:40]!r}") from None
    if len(raw) != expected:
        raise OtlpFormatError(f"{key} must be {expected} bytes ({expected * 2} hex digits), got {len(raw)}")
    return base64.b64encode(raw).decode("ascii")
