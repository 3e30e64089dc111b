"""The exec JSON schema: accepted shapes and precise errors."""

from __future__ import annotations

import pytest

from edge_agent_plugins.exec.jsonfmt import JsonFormatError, JsonMetric, parse


def test_schema() -> None:
    """Objects with name/value/type/unit/attributes, in a metrics list or a bare list."""
    text = '{"metrics": [{"name": "q.depth", "value": 3, "attributes": {"q": "hi"}}, {"name": "jobs", "value": 9.5, "type": "counter", "unit": "{job}"}]}'
    assert parse(text) == [
        JsonMetric("q.depth", 3, attributes={"q": "hi"}),
        JsonMetric("jobs", 9.5, "counter", "{job}"),
    ]
    assert parse('[{"name": "x", "value": 1}]') == [JsonMetric("x", 1)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "not valid JSON"),
        ('{"metrics": 5}', "expected"),
        ('[{"value": 1}]', r"metrics\[0\]\.name"),
        ('[{"name": "x", "value": "1"}]', r"metrics\[0\]\.value"),
        ('[{"name": "x", "value": true}]', r"metrics\[0\]\.value"),
        ('[{"name": "x", "value": 1, "type": "histogram"}]', r"metrics\[0\]\.type"),
        ('[{"name": "x", "value": 1, "attributes": {"a": [1]}}]', "attributes"),
    ],
)
def test_errors_name_the_field(text: str, needle: str) -> None:
    """Wrong types and missing fields raise JsonFormatError naming item and field."""
    with pytest.raises(JsonFormatError, match=needle):
        parse(text)
