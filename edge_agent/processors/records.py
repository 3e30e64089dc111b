"""Walking parsed OTLP requests: resources, scopes, records and their attribute lists.

Processors work on a request parsed into a *fresh* generated message
(``Msg.FromString``; reusing a message grows RSS without bound under upb,
see DESIGN.md). These helpers hide the per-signal shape of the tree:

* traces:  resource_spans / scope_spans / spans (+ events, links)
* logs:    resource_logs / scope_logs / log_records
* metrics: resource_metrics / scope_metrics / metrics / <kind>.data_points
  (+ exemplars); a metric data point is the record, as in
  :func:`~edge_agent.otlp.validate.count_records`.

Removal happens in place (``del repeated[i]``), and :func:`prune` then drops
metrics, scopes and resources left without records, so a filtered request
never carries empty shells upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from edge_agent.otlp.fragment import Signal
from edge_agent.otlp.validate import _request_class, count_records

__all__ = [
    "any_value_text",
    "count_records",
    "iter_record_attribute_lists",
    "iter_records",
    "parse",
    "prune",
    "record_lists",
    "resource_groups",
    "scope_groups",
]

_RESOURCE_FIELD = {
    Signal.TRACES: "resource_spans",
    Signal.METRICS: "resource_metrics",
    Signal.LOGS: "resource_logs",
}
_SCOPE_FIELD = {Signal.TRACES: "scope_spans", Signal.METRICS: "scope_metrics", Signal.LOGS: "scope_logs"}
_RECORD_FIELD = {Signal.TRACES: "spans", Signal.LOGS: "log_records"}
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def parse(signal: Signal, payload: bytes) -> Any:
    """A fresh ``Export*ServiceRequest`` parsed from ``payload`` (raises protobuf's ``DecodeError``)."""
    return _request_class(signal).FromString(payload)


def resource_groups(signal: Signal, message: Any) -> Any:
    """The repeated ``Resource{Spans,Metrics,Logs}`` of a request."""
    return getattr(message, _RESOURCE_FIELD[signal])


def scope_groups(signal: Signal, group: Any) -> Any:
    """The repeated ``Scope{Spans,Metrics,Logs}`` of one resource group."""
    return getattr(group, _SCOPE_FIELD[signal])


def metric_points(metric: Any) -> Any:
    """The repeated data points of a metric, whatever its kind (empty tuple when unset)."""
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind else ()


def record_lists(signal: Signal, scope_group: Any) -> Iterator[tuple[Any, Any]]:
    """``(repeated records, owner)`` pairs of one scope group: one for spans and logs, one per metric."""
    if signal is Signal.METRICS:
        for metric in scope_group.metrics:
            points = metric_points(metric)
            if len(points):
                yield points, metric
    else:
        yield getattr(scope_group, _RECORD_FIELD[signal]), None


def iter_records(signal: Signal, message: Any) -> Iterator[tuple[Any, Any, Any]]:
    """``(resource group, metric or None, record)`` for every record of a request."""
    for group in resource_groups(signal, message):
        for scope_group in scope_groups(signal, group):
            for records, owner in record_lists(signal, scope_group):
                for record in records:
                    yield group, owner, record


def iter_record_attribute_lists(signal: Signal, record: Any) -> Iterator[Any]:
    """Every repeated ``KeyValue`` a record carries: its own, its span events' and links', exemplars'."""
    yield record.attributes
    if signal is Signal.TRACES:
        for event in record.events:
            yield event.attributes
        for link in record.links:
            yield link.attributes
    elif signal is Signal.METRICS and hasattr(record, "exemplars"):
        for exemplar in record.exemplars:
            yield exemplar.filtered_attributes


def remove_where(records: Any, predicate: Callable[[Any], bool]) -> int:
    """Delete the records for which ``predicate`` is true (in place); return how many."""
    doomed = [i for i, record in enumerate(records) if predicate(record)]
    for i in reversed(doomed):
        del records[i]
    return len(doomed)


def prune(signal: Signal, message: Any) -> None:
    """Drop metrics without data points, then scopes without records, then empty resources."""
    groups = resource_groups(signal, message)
    for group in groups:
        scopes = scope_groups(signal, group)
        for scope_group in scopes:
            if signal is Signal.METRICS:
                remove_where(scope_group.metrics, lambda m: not len(metric_points(m)))
        remove_where(scopes, lambda s: not _has_records(signal, s))
    remove_where(groups, lambda g: not len(scope_groups(signal, g)))


def _has_records(signal: Signal, scope_group: Any) -> bool:
    if signal is Signal.METRICS:
        return bool(len(scope_group.metrics))
    return bool(len(getattr(scope_group, _RECORD_FIELD[signal])))


def any_value_text(value: Any) -> str | None:
    """A scalar ``AnyValue`` as text for matching (``true``, ``42``, ``0.5``); None for lists, maps, bytes."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    return None
