"""The ``filter`` processor: drop records, or keep only some, by name, severity, body and attributes.

A record *matches* when every configured criterion holds (lists inside one
criterion are alternatives). ``action = "drop"`` removes matching records;
``action = "keep"`` removes the others. Criteria:

* ``metric_names`` (metrics; globs on the metric name): applies to every
  data point of a matching metric,
* ``span_names`` (traces; globs),
* ``severity_min`` / ``severity_max`` (logs; inclusive, by severity number;
  records without a severity match only with ``match_undefined_severity``),
* ``bodies`` (logs; regular expressions searched in string bodies),
* ``attributes`` (record attributes; key = glob on the value's text),
* ``resource_attributes`` (the same on the resource).

Signal-specific criteria narrow the processor to that signal, so a
metric-name filter never parses a log request. Dropped records are counted
per processor and as ``records.dropped{reason="filtered"}``; metrics, scopes
and resources left empty are removed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any, Literal

from edge_agent.otlp.fragment import Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.checks import criteria_signals
from edge_agent.processors.records import (
    any_value_text,
    prune,
    record_lists,
    remove_where,
    resource_groups,
    scope_groups,
)


def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


class RecordFilter:
    def __init__(
        self,
        name: str,
        *,
        action: Literal["drop", "keep"] = "drop",
        metric_names: tuple[str, ...] = (),
        span_names: tuple[str, ...] = (),
        severity_min: int = 0,
        severity_max: int = 0,
        match_undefined_severity: bool = False,
        bodies: tuple[str, ...] = (),
        attributes: Mapping[str, str] | None = None,
        resource_attributes: Mapping[str, str] | None = None,
        signals: frozenset[Signal] = frozenset(Signal),
    ) -> None:
        self.name = name
        self._drop_matching = action == "drop"
        self._metric_names = _globs(metric_names)
        self._span_names = _globs(span_names)
        self._severity = (severity_min or 1, severity_max or 24) if severity_min or severity_max else None
        self._match_undefined = match_undefined_severity
        self._bodies = re.compile("|".join(f"(?:{b})" for b in bodies)) if bodies else None
        self._attributes = {k: _globs((v,)) for k, v in (attributes or {}).items()}
        self._resource = {k: _globs((v,)) for k, v in (resource_attributes or {}).items()}
        self._signals = signals & criteria_signals(
            metric_names=bool(metric_names),
            span_names=bool(span_names),
            logs_only=bool(self._severity or bodies),
        )

    def supports(self, signal: Signal) -> bool:
        return signal in self._signals

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        removed = 0
        for group in resource_groups(signal, message):
            resource_ok = _attributes_match(group.resource.attributes, self._resource)
            if not resource_ok and self._drop_matching:
                continue  # nothing under this resource can match
            for scope_group in scope_groups(signal, group):
                for records, owner in record_lists(signal, scope_group):
                    removed += self._filter_records(signal, records, owner, resource_ok)
        if removed:
            tally.drop(self.name, removed)
            prune(signal, message)

    def _filter_records(self, signal: Signal, records: Any, owner: Any, resource_ok: bool) -> int:
        if not resource_ok:  # action keep: nothing here matches, so all of it goes
            return remove_where(records, lambda _: True)
        if owner is not None and self._metric_names is not None:
            name_ok = self._metric_names.fullmatch(owner.name) is not None
            if not name_ok:
                return 0 if self._drop_matching else remove_where(records, lambda _: True)
        drop = self._drop_matching
        return remove_where(records, lambda r: self._matches(signal, r) is drop)

    def _matches(self, signal: Signal, record: Any) -> bool:
        spans = self._span_names
        if signal is Signal.TRACES and spans is not None and spans.fullmatch(record.name) is None:
            return False
        if signal is Signal.LOGS and not self._log_matches(record):
            return False
        return _attributes_match(record.attributes, self._attributes)

    def _log_matches(self, record: Any) -> bool:
        if self._severity is not None:
            number = record.severity_number
            if number == 0:
                if not self._match_undefined:
                    return False
            elif not self._severity[0] <= number <= self._severity[1]:
                return False
        if self._bodies is not None:
            body = record.body
            if body.WhichOneof("value") != "string_value" or self._bodies.search(body.string_value) is None:
                return False
        return True


def _attributes_match(attributes: Any, wanted: Mapping[str, re.Pattern[str] | None]) -> bool:
    """Every wanted key is present and its value's text matches the glob."""
    if not wanted:
        return True
    found: set[str] = set()
    for kv in attributes:
        key = kv.key
        glob = wanted.get(key)
        if glob is None:
            continue
        text = any_value_text(kv.value)
        if text is None or glob.fullmatch(text) is None:
            return False
        found.add(key)
    return len(found) == len(wanted)
