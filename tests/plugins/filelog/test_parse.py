"""Record parsing: JSON and regex fields into body, severity, timestamp and attributes."""

from __future__ import annotations

import pytest

from edge_agent_plugins.filelog.parse import RecordParser, parse_timestamp, severity_number


def test_json_fields_map_to_record_parts() -> None:
    """message -> body, level -> severity, time -> timestamp, the rest -> attributes (nulls dropped)."""
    parser = RecordParser("json")
    parsed = parser.parse(
        '{"time": "2026-11-27T10:00:00.5Z", "level": "warn", "message": "disk low", "pct": 91, "x": null, "big": 99999999999999999999}'
    )
    assert parsed is not None
    assert (parsed.body, parsed.severity, parsed.severity_text) == ("disk low", 13, "warn")
    assert parsed.time_ns == 1795773600_500_000_000
    assert parsed.attributes == {"pct": 91, "big": "99999999999999999999"}


def test_regex_named_groups() -> None:
    """Named groups become fields; a line that does not match returns None (kept raw by the caller)."""
    parser = RecordParser("regex", regex=r"^(?P<time>\S+) (?P<level>\w+) (?P<message>.*)$")
    parsed = parser.parse("1700000000 ERROR it broke")
    assert parsed is not None and parsed.body == "it broke" and parsed.severity == 17
    assert parsed.time_ns == 1_700_000_000 * 10**9
    assert parser.parse("nomatch") is None


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"string"'])
def test_json_non_objects_do_not_parse(text: str) -> None:
    """Non-JSON and JSON that is not an object are parse errors."""
    assert RecordParser("json").parse(text) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("INFO", 9), ("Warning", 13), ("err", 17), ("3", 17), (7, 5), ("loud", 0), (None, 0), (True, 0)],
)
def test_severity_words_and_syslog_numbers(value: object, expected: int) -> None:
    """Level words and syslog priorities map to OTLP severity numbers; unknown is 0."""
    assert severity_number(value) == expected


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (1_700_000_000, "", 1_700_000_000 * 10**9),
        (1_700_000_000_123, "", 1_700_000_000_123 * 10**6),
        ("1700000000.5", "", 1_700_000_000_500_000_000),
        ("2023-11-14T22:13:20+00:00", "", 1_700_000_000 * 10**9),
        ("14/Nov/2023:22:13:20", "%d/%b/%Y:%H:%M:%S", 1_700_000_000 * 10**9),
        ("yesterday", "", 0),
    ],
)
def test_timestamps(value: object, fmt: str, expected: int) -> None:
    """Epoch numbers (unit by magnitude), RFC 3339 and strptime formats; unparsable is 0."""
    assert parse_timestamp(value, fmt) == expected
