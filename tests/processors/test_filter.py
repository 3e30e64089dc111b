"""The filter processor: which records go, how they are counted, and what is left of the request."""

from __future__ import annotations

from edge_agent.otlp.builders import Severity
from edge_agent.otlp.fragment import Signal
from edge_agent.processors.filter import RecordFilter
from edge_agent.processors.records import count_records
from tests.processors.helpers import apply, data_points, kv, log_records, logs, metrics, span_list, spans


def test_metric_name_globs_drop_whole_metrics_and_empty_shells() -> None:
    """Every point of a matching metric goes; a request left without metrics has no scope or resource."""
    f = RecordFilter("quiet", metric_names=("system.network.*",))
    fragment = metrics(
        ("system.network.io", [({"dev": "eth0"}, 1.0), ({"dev": "lo"}, 2.0)]), ("system.cpu", [(None, 3.0)])
    )
    message, tally = apply(f, fragment)
    assert [name for name, _ in data_points(message)] == ["system.cpu"]
    assert tally.dropped == {"quiet": 2} and count_records(Signal.METRICS, message) == 1
    message, _ = apply(f, metrics(("system.network.io", [(None, 1.0)])))
    assert len(message.resource_metrics) == 0


def test_keep_action_keeps_only_matching_records() -> None:
    """action = keep removes everything that does not match."""
    f = RecordFilter("only_cpu", action="keep", metric_names=("system.cpu*",))
    message, tally = apply(
        f, metrics(("system.cpu.time", [(None, 1.0)]), ("system.disk.io", [(None, 2.0), (None, 3.0)]))
    )
    assert [name for name, _ in data_points(message)] == ["system.cpu.time"]
    assert tally.dropped == {"only_cpu": 2}


def test_severity_range_and_undefined_severity() -> None:
    """Logs below info are dropped; records without a severity only match when asked to."""
    fragment = logs(
        ("d", None, Severity.DEBUG), ("i", None, Severity.INFO), ("?", None, 0), ("t", None, Severity.TRACE)
    )
    message, tally = apply(RecordFilter("noise", severity_max=Severity.INFO - 1), fragment)
    assert [r.body.string_value for r in log_records(message)] == ["i", "?"]
    assert tally.dropped == {"noise": 2}
    message, _ = apply(RecordFilter("noise", severity_max=8, match_undefined_severity=True), fragment)
    assert [r.body.string_value for r in log_records(message)] == ["i"]


def test_keep_only_warnings_and_above() -> None:
    """action = keep with severity_min keeps warn and error, drops info and unknown."""
    fragment = logs(
        ("w", None, Severity.WARN), ("e", None, Severity.ERROR), ("i", None, Severity.INFO), ("?", None, 0)
    )
    message, _ = apply(RecordFilter("important", action="keep", severity_min=Severity.WARN), fragment)
    assert [r.body.string_value for r in log_records(message)] == ["w", "e"]


def test_body_regex_and_attribute_globs_must_all_match() -> None:
    """Criteria combine with AND: body pattern and attribute glob both have to hold."""
    fragment = logs(
        ("GET /healthz 200", {"http.route": "/healthz"}, 9),
        ("GET /healthz 500", {"http.route": "/api"}, 9),
        ("GET /api 200", {"http.route": "/healthz"}, 9),
    )
    f = RecordFilter("probes", bodies=(r"/healthz\b",), attributes={"http.route": "/health*"})
    message, tally = apply(f, fragment)
    assert [r.body.string_value for r in log_records(message)] == ["GET /healthz 500", "GET /api 200"]
    assert tally.dropped == {"probes": 1}


def test_attribute_criteria_compare_the_text_of_non_string_values() -> None:
    """Ints and bools compare by their text; a missing key never matches."""
    fragment = spans(
        ("a", {"http.status_code": 200, "sampled": True}), ("b", {"http.status_code": 500}), ("c", None)
    )
    message, _ = apply(
        RecordFilter("ok", attributes={"http.status_code": "2??", "sampled": "true"}), fragment
    )
    assert [s.name for s in span_list(message)] == ["b", "c"]


def test_span_names_and_resource_attributes() -> None:
    """Span name globs select within traces; resource criteria select whole resources."""
    message, _ = apply(RecordFilter("n", span_names=("GET *",)), spans(("GET /", None), ("POST /", None)))
    assert [s.name for s in span_list(message)] == ["POST /"]
    f = RecordFilter("r", resource_attributes={"service.name": "noisy*"})
    message, tally = apply(f, spans(("x", None), resource={"service.name": "noisy-app"}))
    assert not span_list(message) and tally.dropped == {"r": 1}
    message, tally = apply(f, spans(("x", None), resource={"service.name": "calm"}))
    assert len(span_list(message)) == 1 and not tally.changed


def test_keep_with_resource_criteria_drops_other_resources() -> None:
    """action = keep with a resource criterion removes the records of every other resource."""
    f = RecordFilter("mine", action="keep", resource_attributes={"service.name": "mine"})
    message, tally = apply(f, logs(("x", None, 9), ("y", None, 9), resource={"service.name": "theirs"}))
    assert not log_records(message) and tally.dropped == {"mine": 2}


def test_record_attributes_stay_untouched_by_filtering() -> None:
    """Surviving records keep their attributes exactly."""
    message, _ = apply(RecordFilter("f", span_names=("drop",)), spans(("keep", {"a": "1"}), ("drop", None)))
    assert kv(span_list(message)[0].attributes) == {"a": "1"}


def test_signal_specific_criteria_narrow_the_processor() -> None:
    """A metric-name filter supports only metrics; a record-attribute filter every signal."""
    assert RecordFilter("m", metric_names=("x",)).supports(Signal.METRICS)
    assert not RecordFilter("m", metric_names=("x",)).supports(Signal.LOGS)
    assert RecordFilter("a", attributes={"k": "v"}).supports(Signal.LOGS)
