"""Fragments to feed processors, built with the agent's own builders, and readers for the results."""

from __future__ import annotations

from typing import Any

from edge_agent.otlp import attributes
from edge_agent.otlp.attributes import Attributes, AttributeValue
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder
from edge_agent.otlp.fragment import Fragment, Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.records import parse

RESOURCE = {"service.name": "app", "host.name": "dev-1"}


def _heads(resource: Attributes | None) -> tuple[bytes, bytes]:
    return attributes.resource(resource or RESOURCE), attributes.scope("test", "1")


def logs(
    *records: tuple[AttributeValue, Attributes | None, int], resource: Attributes | None = None
) -> Fragment:
    """One log record per ``(body, attributes, severity)``."""
    builder = LogsBuilder(*_heads(resource))
    for body, attrs, severity in records:
        builder.record(body, time_ns=1_000, severity=severity, attributes=attrs)
    return builder.build()


def metrics(
    *series: tuple[str, list[tuple[Attributes | None, float]]], resource: Attributes | None = None
) -> Fragment:
    builder = MetricsBuilder(*_heads(resource), time_ns=2_000)
    for name, points in series:
        builder.gauge(name, points)
    return builder.build()


def spans(*items: tuple[str, Attributes | None], resource: Attributes | None = None) -> Fragment:
    builder = TracesBuilder(*_heads(resource))
    for i, (name, attrs) in enumerate(items):
        builder.span(
            name,
            trace_id=bytes(16 - 1) + bytes([i + 1]),
            span_id=bytes(7) + bytes([i + 1]),
            start_ns=10,
            end_ns=20,
            attributes=attrs,
        )
    return builder.build()


def apply(processor: Any, fragment: Fragment) -> tuple[Any, Tally]:
    """Run one processor on a fresh parse of ``fragment``; return the message and the tally."""
    message = parse(fragment.signal, fragment.payload)
    tally = Tally()
    processor.process(fragment.signal, message, tally)
    return message, tally


def kv(attributes: Any) -> dict[str, Any]:
    """Repeated KeyValue as a dict of plain values (lists and maps as their messages' Python values)."""
    out = {}
    for item in attributes:
        kind = item.value.WhichOneof("value")
        out[item.key] = getattr(item.value, kind) if kind else None
    return out


def log_records(message: Any) -> list[Any]:
    return [r for rl in message.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def data_points(message: Any) -> list[tuple[str, Any]]:
    return [
        (m.name, p)
        for rm in message.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in getattr(m, m.WhichOneof("data")).data_points
    ]


def span_list(message: Any) -> list[Any]:
    return [s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]


__all__ = ["Signal", "apply", "data_points", "kv", "log_records", "logs", "metrics", "span_list", "spans"]
