"""The unit of data that moves through the agent: an encoded OTLP fragment.

A :class:`Fragment` is the serialized bytes of one
``Export{Traces,Metrics,Logs}ServiceRequest`` plus a small envelope. Two
fragments of the same signal merge by byte concatenation (protobuf merges
repeated fields), so batching never decodes anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Signal(str, enum.Enum):
    """An OTLP signal; the value is the path segment of its OTLP/HTTP endpoint."""

    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"

    @property
    def http_path(self) -> str:
        return f"/v1/{self.value}"

    @property
    def record_noun(self) -> str:
        """What OTLP partial_success counts for this signal."""
        return _RECORD_NOUN[self]


_RECORD_NOUN = {Signal.TRACES: "spans", Signal.METRICS: "data points", Signal.LOGS: "log records"}


class Priority(enum.IntEnum):
    """Buffer priority class; lower values are more important.

    When the disk budget is hit, ``BULK`` is dropped first and ``CRITICAL``
    last; the exporter sends ``CRITICAL`` first.
    """

    CRITICAL = 0
    NORMAL = 1
    BULK = 2

    @classmethod
    def parse(cls, text: str) -> Priority:
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(p.name.lower() for p in cls)
            raise ValueError(f"unknown priority {text!r}; expected one of {names}") from None


@dataclass(frozen=True, slots=True)
class Fragment:
    """Encoded OTLP request bytes of one signal, with the envelope the buffer stores.

    ``records`` counts spans, metric data points or log records.
    ``first_ns``/``last_ns`` bound the record timestamps (Unix nanoseconds;
    0 when unknown). ``priority`` of ``None`` means "the emitting plugin
    instance's configured priority".
    """

    signal: Signal
    payload: bytes
    records: int
    first_ns: int = 0
    last_ns: int = 0
    priority: Priority | None = None

    def __post_init__(self) -> None:
        if self.records < 0:
            raise ValueError("records must be >= 0")
        if self.first_ns > self.last_ns and self.last_ns:
            raise ValueError("first_ns must not be after last_ns")

    def with_priority(self, priority: Priority) -> Fragment:
        return Fragment(self.signal, self.payload, self.records, self.first_ns, self.last_ns, priority)
