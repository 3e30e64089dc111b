"""Number data points of selected metrics, read straight from encoded OTLP (no generated classes).

The anomaly detector looks at a few series of every scrape. Parsing those
requests with the opentelemetry-proto classes would keep ~5 MiB of protobuf
loaded in every agent (see DESIGN.md, import costs); walking the wire
format for the handful of fields it needs costs nothing to import and
skips every metric it does not watch without decoding it.

Field numbers (opentelemetry/proto/metrics/v1/metrics.proto and
collector/metrics/v1/metrics_service.proto): request.resource_metrics = 1;
ResourceMetrics.scope_metrics = 2; ScopeMetrics.metrics = 2; Metric.name = 1,
gauge = 5, sum = 7; Gauge/Sum.data_points = 1, Sum.aggregation_temporality
= 2, Sum.is_monotonic = 3; NumberDataPoint.time_unix_nano = 3 (fixed64),
as_double = 4 (double), as_int = 6 (sfixed64), attributes = 7; KeyValue.key
= 1, value = 2; AnyValue string = 1, bool = 2, int = 3, double = 4.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from edge_agent.otlp.wire import WIRE_FIXED64, WIRE_LEN, iter_fields

_DOUBLE = struct.Struct("<d")
_INT64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_CUMULATIVE = 2


@dataclass(frozen=True, slots=True)
class NumberPoint:
    metric: str
    attributes: dict[str, str]
    value: float
    time_ns: int
    counter: bool  # a monotonic cumulative sum: its rate, not its value, is what moves


def number_points(payload: bytes, names: Collection[str]) -> Iterator[NumberPoint]:
    """Points of gauges and sums named in ``names``; raises WireError on malformed bytes."""
    for field, wire_type, rm in iter_fields(payload):
        if field != 1 or wire_type != WIRE_LEN:
            continue
        assert isinstance(rm, bytes)
        for field2, _, sm in iter_fields(rm):
            if field2 != 2 or not isinstance(sm, bytes):
                continue
            for field3, _, metric in iter_fields(sm):
                if field3 == 2 and isinstance(metric, bytes):
                    yield from _metric(metric, names)


def _metric(data: bytes, names: Collection[str]) -> Iterator[NumberPoint]:
    name = ""
    body: bytes | None = None
    is_sum = False
    for field, _, value in iter_fields(data):
        if field == 1 and isinstance(value, bytes):
            name = value.decode("utf-8", "replace")
            if name not in names:
                return  # the name comes first in every encoder we know: skip the rest unread
        elif field in (5, 7) and isinstance(value, bytes):
            body, is_sum = value, field == 7
    if body is None or name not in names:
        return
    temporality, monotonic = 0, False
    points: list[bytes] = []
    for field, _, value in iter_fields(body):
        if field == 1 and isinstance(value, bytes):
            points.append(value)
        elif field == 2 and isinstance(value, int):
            temporality = value
        elif field == 3 and isinstance(value, int):
            monotonic = bool(value)
    counter = is_sum and monotonic and temporality == _CUMULATIVE
    for point in points:
        yield _point(name, point, counter)


def _point(name: str, data: bytes, counter: bool) -> NumberPoint:
    attributes: dict[str, str] = {}
    value = 0.0
    time_ns = 0
    for field, wire_type, raw in iter_fields(data):
        if field == 3 and isinstance(raw, int):
            time_ns = raw
        elif field == 4 and wire_type == WIRE_FIXED64 and isinstance(raw, int):
            value = _DOUBLE.unpack(_U64.pack(raw))[0]
        elif field == 6 and wire_type == WIRE_FIXED64 and isinstance(raw, int):
            value = float(_INT64.unpack(_U64.pack(raw))[0])
        elif field == 7 and isinstance(raw, bytes):
            key, text = _key_value(raw)
            attributes[key] = text
    return NumberPoint(name, attributes, value, time_ns, counter)


def _key_value(data: bytes) -> tuple[str, str]:
    key, text = "", ""
    for field, _, raw in iter_fields(data):
        if field == 1 and isinstance(raw, bytes):
            key = raw.decode("utf-8", "replace")
        elif field == 2 and isinstance(raw, bytes):
            text = _any_text(raw)
    return key, text


def _any_text(data: bytes) -> str:
    for field, _, raw in iter_fields(data):
        if field == 1 and isinstance(raw, bytes):
            return raw.decode("utf-8", "replace")
        if field == 2 and isinstance(raw, int):
            return str(bool(raw))
        if field == 3 and isinstance(raw, int):
            return str(_INT64.unpack(_U64.pack(raw))[0])
        if field == 4 and isinstance(raw, int):
            return str(_DOUBLE.unpack(_U64.pack(raw))[0])
    return ""
