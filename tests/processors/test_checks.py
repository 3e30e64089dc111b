"""Config-time checks of processors: severities, signal criteria, attribute value types."""

from __future__ import annotations

import pytest

from edge_agent.otlp.fragment import Signal
from edge_agent.processors.checks import check_scalars, criteria_signals, parse_severity


def test_criteria_of_two_signals_are_refused() -> None:
    """Criteria narrow a filter to one signal; two signals' criteria together are an error."""
    assert criteria_signals(metric_names=True, span_names=False, logs_only=False) == {Signal.METRICS}
    assert criteria_signals(metric_names=False, span_names=False, logs_only=False) == frozenset(Signal)
    with pytest.raises(ValueError, match="metrics and traces cannot be combined"):
        criteria_signals(metric_names=True, span_names=True, logs_only=False)


@pytest.mark.parametrize(
    ("text", "number"),
    [("", 0), ("info", 9), ("WARN", 13), ("warning", 13), ("error2", 18), ("fatal4", 24), ("17", 17)],
)
def test_parse_severity(text: str, number: int) -> None:
    """Severity names (with 2-4 suffixes) and numbers map to OTLP severity numbers."""
    assert parse_severity(text) == number


@pytest.mark.parametrize("text", ["loud", "error5", "25", "0"])
def test_parse_severity_rejects_unknown_values(text: str) -> None:
    """Unknown names and out-of-range numbers are errors that list the valid names."""
    with pytest.raises(ValueError, match="use trace, debug, info"):
        parse_severity(text)


def test_attribute_values_must_be_scalars() -> None:
    """Strings, numbers and booleans pass; a list is refused naming the key."""
    check_scalars({"a": "x", "b": 1, "c": 0.5, "d": True})
    with pytest.raises(ValueError, match="value of 'e' must be a string, number or boolean, got list"):
        check_scalars({"e": [1]})
