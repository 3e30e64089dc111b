"""StatsD / DogStatsD line parsing: every metric type, rates, tags, and precise errors."""

from __future__ import annotations

import pytest

from edge_agent_plugins.statsd.parse import Sample, StatsdParseError, parse_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hits:1|c", Sample("hits", "counter", (1.0,))),
        ("hits:2|c|@0.5", Sample("hits", "counter", (2.0,), rate=0.5)),
        ("temp:21.5|g", Sample("temp", "gauge", (21.5,))),
        ("temp:-3|g", Sample("temp", "gauge", (-3.0,), delta=True)),
        ("temp:+4|g", Sample("temp", "gauge", (4.0,), delta=True)),
        ("users:alice|s", Sample("users", "set", (), ("alice",))),
        ("rt:320|ms|@0.1", Sample("rt", "timer", (320.0,), rate=0.1)),
        ("size:1:2:3|h", Sample("size", "histogram", (1.0, 2.0, 3.0))),
        (
            "d:5|d|#env:prod,region:eu",
            Sample("d", "histogram", (5.0,), tags=(("env", "prod"), ("region", "eu"))),
        ),
        ("hits:1|c|#flag|c:abc123|T1700000000", Sample("hits", "counter", (1.0,), tags=(("flag", ""),))),
    ],
)
def test_valid_lines(line: str, expected: Sample) -> None:
    """Counters, gauges (and +/- deltas), sets, timers, histograms, distributions, rates, tags, ignored fields."""
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("hits", "missing '|<type>'"),
        ("hits|c", "missing ':<value>'"),
        ("hits:|c", "missing ':<value>'"),
        ("hits:abc|c", "not a number"),
        ("hits:1|x", "unknown metric type"),
        ("hits:1|c|@2", "sample rate"),
        ("hits:1|c|@0", "sample rate"),
        ("hits:nan|c", "not finite"),
        (":1|c", "invalid metric name"),
        ("a b:1|c", "invalid metric name"),
        ("x:1|c|#:v", "tag without a name"),
        ("_e{5,4}:title|text", "events"),
        ("\x00\x01\x02", "missing"),
    ],
)
def test_garbage_is_a_clear_error(line: str, needle: str) -> None:
    """Malformed lines raise StatsdParseError saying what is wrong."""
    with pytest.raises(StatsdParseError, match=needle):
        parse_line(line)
