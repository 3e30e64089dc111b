"""Builders that turn values into encoded OTLP fragments.

Each builder is bound to one resource and one instrumentation scope (the
plugin that emits) and accumulates encoded records; :meth:`build` wraps them
into a single ``Export*ServiceRequest`` and returns a :class:`Fragment`.
Nothing here touches the generated protobuf classes: field numbers come from
``opentelemetry/proto/{metrics,logs,trace}/v1/*.proto`` and are pinned by
tests that parse the output back with ``opentelemetry-proto``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat

from edge_agent.otlp import wire
from edge_agent.otlp.attributes import Attributes, AttributeValue, any_value, encode_attributes
from edge_agent.otlp.fragment import Fragment, Priority, Signal

Number = int | float
Points = Number | Iterable[tuple[Attributes | None, Number]]


class Temporality(enum.IntEnum):
    """OTLP ``AggregationTemporality``."""

    DELTA = 1
    CUMULATIVE = 2


class Severity(enum.IntEnum):
    """OTLP ``SeverityNumber`` (the first value of each range)."""

    UNSPECIFIED = 0
    TRACE = 1
    DEBUG = 5
    INFO = 9
    WARN = 13
    ERROR = 17
    FATAL = 21


class SpanKind(enum.IntEnum):
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(frozen=True)
class HistogramPoint:
    """One explicit-bucket histogram data point.

    ``bucket_counts`` has ``len(bounds) + 1`` entries (the last bucket is
    ``(bounds[-1], +inf)``).
    """

    count: int
    sum: float | None
    bounds: Sequence[float]
    bucket_counts: Sequence[int]
    attributes: Attributes | None = None
    min: float | None = None
    max: float | None = None
    start_time_ns: int = 0

    def __post_init__(self) -> None:
        if len(self.bucket_counts) != len(self.bounds) + 1:
            raise ValueError("bucket_counts must have len(bounds) + 1 entries")
        if sum(self.bucket_counts) != self.count:
            raise ValueError("bucket_counts must add up to count")
        if not 0 <= self.count <= _UINT64_MAX or any(c < 0 for c in self.bucket_counts):
            raise ValueError("count and bucket_counts must be between 0 and 2**64-1")


@dataclass(frozen=True)
class SummaryPoint:
    """One summary data point; ``quantiles`` maps quantile (0..1) to value."""

    count: int
    sum: float
    quantiles: Sequence[tuple[float, float]] = field(default_factory=tuple)
    attributes: Attributes | None = None
    start_time_ns: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.count <= _UINT64_MAX:
            raise ValueError("count must be between 0 and 2**64-1")


_UINT64_MAX = 2**64 - 1

# A NumberDataPoint is: attributes, then fixed-size fields (start, time, value).
# Everything but the value is the same for every point of one call, and the
# attribute part depends only on the attribute set, so a point costs one
# identity-cache lookup and one struct.pack; the final b"".join does the copying.
_TB_START = wire.tag(2, wire.WIRE_FIXED64)[0]
_TB_TIME = wire.tag(3, wire.WIRE_FIXED64)[0]
_TB_DOUBLE = wire.tag(4, wire.WIRE_FIXED64)[0]
_TB_INT = wire.tag(6, wire.WIRE_FIXED64)[0]
_START_TIME = struct.Struct("<BQBQ")
_TIME_ONLY = struct.Struct("<BQ")
_INT_VALUE = struct.Struct("<Bq")
_DOUBLE_VALUE = struct.Struct("<Bd")
_FIXED_WITH_START = _START_TIME.size + _INT_VALUE.size
_FIXED_NO_START = _TIME_ONLY.size + _INT_VALUE.size
_CACHE_LIMIT = 4096

# fixed size -> {id(attributes): (attributes, b"\x0a" + len(point) + encoded attributes)}.
# The entry keeps the attribute object alive so its id cannot be recycled while cached;
# callers must not mutate attribute dicts they pass (see attributes.encode_attributes).
_point_heads: dict[int, dict[int, tuple[object, bytes]]] = {_FIXED_WITH_START: {}, _FIXED_NO_START: {}}


def _point_head(attrs: Attributes | None, fixed: int) -> bytes:
    head = encode_attributes(7, attrs) if attrs else b""
    cache = _point_heads[fixed]
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    encoded = b"\x0a" + wire.varint(len(head) + fixed) + head
    cache[id(attrs)] = (attrs, encoded)
    return encoded


def _number_points(points: Points, start_ns: int, time_ns: int) -> tuple[list[bytes], int]:
    """``NumberDataPoint``s as field 1 of their metric, and how many (the hottest encoder)."""
    if isinstance(points, int | float):
        points = ((None, points),)
    if start_ns:
        times, fixed = _START_TIME.pack(_TB_START, start_ns, _TB_TIME, time_ns), _FIXED_WITH_START
    else:
        times, fixed = _TIME_ONLY.pack(_TB_TIME, time_ns), _FIXED_NO_START
    heads = _point_heads[fixed]
    pack_int, pack_double = _INT_VALUE.pack, _DOUBLE_VALUE.pack
    out: list[bytes] = []
    append = out.append
    for attrs, value in points:
        hit = heads.get(id(attrs))
        head = hit[1] if hit is not None and hit[0] is attrs else _point_head(attrs, fixed)
        append(head)
        append(times)
        append(pack_int(_TB_INT, value) if type(value) is int else pack_double(_TB_DOUBLE, float(value)))
    return out, len(out) // 3


_SUM_TAILS = {
    (temporality, monotonic): wire.varint_field(2, temporality) + wire.varint_field(3, int(monotonic))
    for temporality in (1, 2)
    for monotonic in (False, True)
}
_header_cache: dict[tuple[str, str, str], bytes] = {}


def _metric_header(name: str, unit: str, description: str) -> bytes:
    key = (name, unit, description)
    cached = _header_cache.get(key)
    if cached is None:
        if not name:
            raise ValueError("metric name must not be empty")
        cached = wire.str_field(1, name) + wire.str_field(2, description) + wire.str_field(3, unit)
        if len(_header_cache) < 4096:
            _header_cache[key] = cached
    return cached


class _Builder:
    signal: Signal

    def __init__(self, resource: bytes, scope: bytes, *, priority: Priority | None = None) -> None:
        self._resource = resource
        self._scope = scope
        self._items: list[bytes] = []
        self._records = 0
        self._first_ns = 0
        self._last_ns = 0
        self.priority = priority

    def __len__(self) -> int:
        """Number of records (data points, log records or spans) added so far."""
        return self._records

    def is_empty(self) -> bool:
        return self._records == 0

    def _seen(self, ts: int) -> None:
        if ts:
            if not self._first_ns or ts < self._first_ns:
                self._first_ns = ts
            self._last_ns = max(self._last_ns, ts)

    def build(self) -> Fragment:
        """Wrap everything added so far into one ``Export*ServiceRequest`` fragment."""
        scoped = wire.len_field(1, self._scope) + b"".join(self._items)
        resource_level = wire.len_field(1, self._resource) + wire.len_field(2, scoped)
        payload = wire.len_field(1, resource_level)
        return Fragment(self.signal, payload, self._records, self._first_ns, self._last_ns, self.priority)


class MetricsBuilder(_Builder):
    """Accumulates metrics sharing one timestamp (the collection time).

    ``points`` is a single number (one point, no attributes) or an iterable
    of ``(attributes, value)`` pairs. ``int`` values encode as ``as_int``,
    ``float`` as ``as_double``.
    """

    signal = Signal.METRICS

    def __init__(
        self,
        resource: bytes,
        scope: bytes,
        *,
        time_ns: int,
        start_time_ns: int = 0,
        priority: Priority | None = None,
    ) -> None:
        super().__init__(resource, scope, priority=priority)
        self.time_ns = time_ns
        self.start_time_ns = start_time_ns
        self._seen(time_ns)

    def gauge(self, name: str, points: Points, *, unit: str = "", description: str = "") -> None:
        encoded, n = _number_points(points, 0, self.time_ns)
        if n:
            self._add(name, unit, description, 5, b"".join(encoded), n)

    def sum(
        self,
        name: str,
        points: Points,
        *,
        unit: str = "",
        description: str = "",
        monotonic: bool = True,
        temporality: Temporality = Temporality.CUMULATIVE,
        start_time_ns: int | None = None,
    ) -> None:
        start = self.start_time_ns if start_time_ns is None else start_time_ns
        encoded, n = _number_points(points, start, self.time_ns)
        if not n:
            return
        encoded.append(_SUM_TAILS[(int(temporality), bool(monotonic))])
        self._add(name, unit, description, 7, b"".join(encoded), n)

    def histogram(
        self,
        name: str,
        points: Iterable[HistogramPoint],
        *,
        unit: str = "",
        description: str = "",
        temporality: Temporality = Temporality.CUMULATIVE,
    ) -> None:
        encoded = [wire.len_field(1, self._histogram_point(p)) for p in points]
        if encoded:
            tail = wire.varint_field(2, int(temporality))
            self._add(name, unit, description, 9, b"".join(encoded) + tail, len(encoded))

    def summary(
        self, name: str, points: Iterable[SummaryPoint], *, unit: str = "", description: str = ""
    ) -> None:
        encoded = [wire.len_field(1, self._summary_point(p)) for p in points]
        if encoded:
            self._add(name, unit, description, 11, b"".join(encoded), len(encoded))

    def _add(self, name: str, unit: str, desc: str, kind_field: int, body: bytes, n: int) -> None:
        metric = _metric_header(name, unit, desc) + wire.len_field(kind_field, body)
        self._items.append(wire.len_field(2, metric))
        self._records += n

    def _histogram_point(self, p: HistogramPoint) -> bytes:
        start = p.start_time_ns or self.start_time_ns
        parts = [
            encode_attributes(9, p.attributes),
            wire.fixed64_field(2, start),
            wire.fixed64_field(3, self.time_ns),
            wire.tag(4, wire.WIRE_FIXED64) + struct.pack("<Q", p.count),
        ]
        if p.sum is not None:
            parts.append(wire.double_field(5, p.sum))
        parts.append(wire.packed_fixed64(6, list(p.bucket_counts)))
        parts.append(wire.packed_double(7, list(p.bounds)))
        if p.min is not None:
            parts.append(wire.double_field(11, p.min))
        if p.max is not None:
            parts.append(wire.double_field(12, p.max))
        return b"".join(parts)

    def _summary_point(self, p: SummaryPoint) -> bytes:
        start = p.start_time_ns or self.start_time_ns
        parts = [
            encode_attributes(7, p.attributes),
            wire.fixed64_field(2, start),
            wire.fixed64_field(3, self.time_ns),
            wire.tag(4, wire.WIRE_FIXED64) + struct.pack("<Q", p.count),
            wire.double_field(5, p.sum),
        ]
        for quantile, value in p.quantiles:
            parts.append(wire.len_field(6, wire.double_field(1, quantile) + wire.double_field(2, value)))
        return b"".join(parts)


_T_LOG_TIME = wire.tag(1, wire.WIRE_FIXED64)
_T_LOG_OBSERVED = wire.tag(11, wire.WIRE_FIXED64)
_LOG_TIMES = struct.Struct("<BQBQ")
_LOG_TIMES_OBSERVED = struct.Struct("<BQ")


class _LineHeads(dict[int, bytes]):
    """``len(line) -> bytes`` that precede a line in a log record with a fixed-size tail.

    The record is ``0x12 len(record)`` (``ScopeLogs.log_records``), then the
    body ``0x2a len(AnyValue) 0x0a len(line) line``, then the tail (times,
    severity, attributes: the same bytes for every line of a batch). So the
    head depends only on the line length, and a cache hit is one C-level dict
    lookup.
    """

    def __init__(self, tail_size: int) -> None:
        super().__init__()
        self.tail_size = tail_size

    def __missing__(self, n: int) -> bytes:
        any_value_size = 1 + len(wire.varint(n)) + n
        body_size = 1 + len(wire.varint(any_value_size)) + any_value_size
        head = (
            b"\x12"
            + wire.varint(body_size + self.tail_size)
            + b"\x2a"
            + wire.varint(any_value_size)
            + b"\x0a"
            + wire.varint(n)
        )
        if n < 65536:  # bounded: longer lines are rare and cheap to encode each time
            self[n] = head
        return head


_line_heads: dict[int, _LineHeads] = {}


class LogsBuilder(_Builder):
    """Accumulates log records."""

    signal = Signal.LOGS

    def lines(
        self,
        lines: Sequence[bytes],
        *,
        observed_time_ns: int,
        severity: int = Severity.UNSPECIFIED,
        attributes: Attributes | None = None,
    ) -> None:
        """Add one log record per line: the bulk fast path for log tailers.

        Each line must be valid UTF-8 without its newline (OTLP string
        bodies are UTF-8; the upstream rejects the whole request otherwise).
        All records share ``observed_time_ns``, ``severity`` and
        ``attributes``. Encoding runs in C (``map``/``zip``/``join`` over
        cached per-length headers): no Python code runs per line.
        """
        if not lines:
            return
        tail = b"".join(
            (
                _LOG_TIMES_OBSERVED.pack(_T_LOG_OBSERVED[0], observed_time_ns),
                wire.varint_field(2, int(severity)),
                encode_attributes(6, attributes),
            )
        )
        heads = _line_heads.get(len(tail))
        if heads is None:
            if len(_line_heads) >= 64:
                _line_heads.clear()
            heads = _line_heads[len(tail)] = _LineHeads(len(tail))
        self._items.append(
            b"".join(chain.from_iterable(zip(map(heads.__getitem__, map(len, lines)), lines, repeat(tail))))
        )
        self._records += len(lines)
        self._seen(observed_time_ns)

    def record(
        self,
        body: AttributeValue,
        *,
        time_ns: int = 0,
        observed_time_ns: int = 0,
        severity: int = Severity.UNSPECIFIED,
        severity_text: str = "",
        attributes: Attributes | None = None,
        trace_id: bytes = b"",
        span_id: bytes = b"",
        event_name: str = "",
    ) -> None:
        """Add one log record. ``time_ns`` 0 means "unknown" (the observed time is used)."""
        if time_ns and observed_time_ns:
            times = _LOG_TIMES.pack(_T_LOG_TIME[0], time_ns, _T_LOG_OBSERVED[0], observed_time_ns)
        else:
            times = wire.fixed64_field(1, time_ns) + wire.fixed64_field(11, observed_time_ns)
        if isinstance(body, str):
            body_bytes = wire.len_field(5, wire.len_field(1, body.encode("utf-8")))
        else:
            body_bytes = wire.len_field(5, any_value(body))
        record = b"".join(
            (
                times,
                wire.varint_field(2, int(severity)),
                wire.str_field(3, severity_text),
                body_bytes,
                encode_attributes(6, attributes),
                wire.len_field(9, trace_id) if trace_id else b"",
                wire.len_field(10, span_id) if span_id else b"",
                wire.str_field(12, event_name),
            )
        )
        self._items.append(wire.len_field(2, record))
        self._records += 1
        self._seen(time_ns or observed_time_ns)


class TracesBuilder(_Builder):
    """Accumulates spans."""

    signal = Signal.TRACES

    def span(
        self,
        name: str,
        *,
        trace_id: bytes,
        span_id: bytes,
        start_ns: int,
        end_ns: int,
        parent_span_id: bytes = b"",
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes | None = None,
        status: StatusCode = StatusCode.UNSET,
        status_message: str = "",
    ) -> None:
        if len(trace_id) != 16 or len(span_id) != 8:
            raise ValueError("trace_id must be 16 bytes and span_id 8 bytes")
        if parent_span_id and len(parent_span_id) != 8:
            raise ValueError("parent_span_id must be 8 bytes")
        status_body = wire.str_field(2, status_message) + wire.varint_field(3, int(status))
        span = b"".join(
            (
                wire.len_field(1, trace_id),
                wire.len_field(2, span_id),
                wire.len_field(4, parent_span_id) if parent_span_id else b"",
                wire.str_field(5, name),
                wire.varint_field(6, int(kind)),
                wire.fixed64_field(7, start_ns),
                wire.fixed64_field(8, end_ns),
                encode_attributes(9, attributes),
                wire.len_field(15, status_body) if status_body else b"",
            )
        )
        self._items.append(wire.len_field(2, span))
        self._records += 1
        self._seen(start_ns)
        self._seen(end_ns)
