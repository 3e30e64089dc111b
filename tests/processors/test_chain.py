"""The processor chain: routing by plugin and signal, one parse per fragment, fail-closed errors."""

from __future__ import annotations

from typing import Any

from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.attributes import AttributeEditor, AttributesProcessor
from edge_agent.processors.chain import ProcessorChain, Selection
from edge_agent.processors.filter import RecordFilter
from edge_agent.processors.presets import Rule, expand
from edge_agent.processors.records import parse
from edge_agent.processors.redact import Redactor
from tests.processors.helpers import kv, log_records, logs, metrics

ALL = frozenset(Signal)


def _redactor() -> Redactor:
    return Redactor(
        "scrub", keys=(), rules=tuple(Rule.from_preset(p) for p in expand(("email",))), template="***"
    )


def test_routes_follow_signals_plugin_globs_and_processor_support() -> None:
    """A route lists, in order, the processors whose selection and signal support both fit."""
    scrub = _redactor()
    quiet = RecordFilter("quiet", metric_names=("x",))
    chain = ProcessorChain(
        [(scrub, Selection(frozenset({Signal.LOGS}), ("file*", "otlp"))), (quiet, Selection())]
    )
    assert chain.route("filelog", Signal.LOGS) == (scrub,)
    assert chain.route("otlp", Signal.METRICS) == (quiet,)
    assert chain.route("statsd", Signal.LOGS) == ()
    assert chain.route("filelog", Signal.LOGS) is chain.route("filelog", Signal.LOGS)  # cached


def test_agent_metrics_are_selected_only_by_name() -> None:
    """Globs never select self_telemetry (the agent's loss counters); its exact name does."""
    quiet = RecordFilter("quiet", action="keep", metric_names=("system.*",))
    chain = ProcessorChain([(quiet, Selection())])
    assert chain.route("self_telemetry", Signal.METRICS) == ()
    assert chain.route("hostmetrics", Signal.METRICS) == (quiet,)
    named = ProcessorChain([(quiet, Selection(plugins=("self_telemetry",)))])
    assert named.route("self_telemetry", Signal.METRICS) == (quiet,)


def test_unchanged_fragment_is_passed_through_as_the_same_object() -> None:
    """When no processor changes anything, the original fragment (and bytes) go on: no re-serialization."""
    fragment = logs(("nothing to see", None, 9))
    chain = ProcessorChain([(_redactor(), Selection())])
    outcome = chain.run(fragment, chain.route("p", Signal.LOGS))
    assert outcome.fragment is fragment and not outcome.tally.changed


def test_processors_run_in_order_on_one_parse_and_keep_the_envelope() -> None:
    """Each processor sees the previous one's result; records, timestamps and priority are kept right."""
    editor = AttributeEditor(set={"user.email": "copy@example.com"})
    steps = [
        (AttributesProcessor("tag", editor, ALL), Selection()),
        (_redactor(), Selection()),
        (RecordFilter("drop_debug", severity_max=8), Selection()),
    ]
    chain = ProcessorChain(steps)
    fragment = logs(("a@b.io wrote", None, 9), ("debug", None, 5)).with_priority(Priority.CRITICAL)
    outcome = chain.run(fragment, chain.route("p", Signal.LOGS))
    assert outcome.fragment is not None
    out = outcome.fragment
    assert (out.records, out.priority, out.first_ns, out.last_ns) == (
        1,
        Priority.CRITICAL,
        fragment.first_ns,
        fragment.last_ns,
    )
    (record,) = log_records(parse(Signal.LOGS, out.payload))
    assert record.body.string_value == "*** wrote"
    assert kv(record.attributes) == {"user.email": "***"}
    assert outcome.tally.dropped == {"drop_debug": 1}
    assert outcome.tally.redacted == {("scrub", "email"): 3}  # both copies + one body, before the filter


def test_everything_filtered_gives_no_fragment() -> None:
    """A fragment whose records are all dropped becomes None (nothing to buffer), with the count."""
    chain = ProcessorChain([(RecordFilter("all", metric_names=("*",)), Selection())])
    outcome = chain.run(metrics(("a", [(None, 1.0)]), ("b", [(None, 2.0)])), chain.route("p", Signal.METRICS))
    assert outcome.fragment is None and outcome.tally.dropped == {"all": 2} and not outcome.failed


def test_unparseable_fragment_is_dropped_not_forwarded() -> None:
    """Bytes that do not parse never pass unprocessed: the outcome is a drop naming the stage."""
    chain = ProcessorChain([(_redactor(), Selection())])
    bad = Fragment(Signal.LOGS, b"\x0a\xff\xff\xff", 3)
    outcome = chain.run(bad, chain.route("p", Signal.LOGS))
    assert outcome.fragment is None and outcome.failed == "parse" and outcome.error == "DecodeError"


class _Broken:
    name = "broken"

    def supports(self, signal: Signal) -> bool:
        return True

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        raise RuntimeError("secret value bob@example.com in the message")


def test_failing_processor_drops_the_fragment_and_reports_only_the_type() -> None:
    """A processor bug drops the fragment (fail closed); the outcome carries the type, not the message."""
    chain = ProcessorChain([(_Broken(), Selection())])
    outcome = chain.run(logs(("x", None, 9)), chain.route("p", Signal.LOGS))
    assert (outcome.fragment, outcome.failed, outcome.error) == (None, "broken", "RuntimeError")
