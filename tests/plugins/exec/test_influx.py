"""Influx line protocol parsing: tags, field types, escapes, strings skipped, errors with line numbers."""

from __future__ import annotations

import pytest

from edge_agent_plugins.exec.influx import InfluxError, InfluxPoint, parse_lines


def test_fields_tags_types_and_escapes() -> None:
    """Each numeric field is a point; ints, uints, floats and booleans kept; string fields skipped."""
    text = (
        "# comment\n"
        'cpu,host=edge\\ 1,core=0 usage=0.5,ticks=12i,ok=t,label="a b, c" 1700000000000000000\n'
        "disk\\,io,dev=sda read=7u\n"
    )
    points, skipped = parse_lines(text)
    assert points == [
        InfluxPoint("cpu.usage", {"host": "edge 1", "core": "0"}, 0.5),
        InfluxPoint("cpu.ticks", {"host": "edge 1", "core": "0"}, 12),
        InfluxPoint("cpu.ok", {"host": "edge 1", "core": "0"}, 1),
        InfluxPoint("disk,io.read", {"dev": "sda"}, 7),
    ]
    assert skipped == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cpu\n", "line 1: expected 'measurement"),
        ("ok v=1\ncpu usage=abc\n", "line 2: field value 'abc'"),
        ('cpu msg="open\n', "unterminated"),
        ("cpu ,=1\n", "expected key=value"),
        ("cpu v=inf\n", "not finite"),
    ],
)
def test_malformed_lines(text: str, needle: str) -> None:
    """Malformed input raises InfluxError naming the line."""
    with pytest.raises(InfluxError, match=needle):
        parse_lines(text)
