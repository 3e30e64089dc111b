"""Parsing prometheus-client's own exposition output (text 0.0.4 and OpenMetrics) and bad pages."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from edge_agent_plugins.prometheus.textparse import ExpositionError, parse


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    requests = Counter("http_requests", "Requests served", ["method", "path"], registry=reg)
    requests.labels("GET", '/a "quoted" \\ path\n').inc(3)
    requests.labels("POST", "/b").inc()
    Gauge("temperature_celsius", "Board temperature", registry=reg).set(41.5)
    latency = Histogram("latency_seconds", "Latency", buckets=(0.1, 1.0), registry=reg)
    for value in (0.05, 0.5, 0.7, 3.0):
        latency.observe(value)
    Summary("payload_bytes", "Payload sizes", registry=reg).observe(512)
    Info("build", "Build info", registry=reg).info({"version": "1.2.3"})
    return reg


def _families(text: str) -> dict[str, object]:
    return {f.name: f for f in parse(text)}


def test_text_004_families_and_escapes() -> None:
    """The 0.0.4 output parses into typed families with unescaped label values."""
    families = _families(generate_latest(registry()).decode())
    requests = families["http_requests_total"]
    assert requests.type == "counter" and requests.help == "Requests served"  # type: ignore[attr-defined]
    values = {s[1]["path"]: s[2] for s in requests.samples if s[0] == "http_requests_total"}  # type: ignore[attr-defined]
    assert values == {'/a "quoted" \\ path\n': 3.0, "/b": 1.0}
    latency = families["latency_seconds"]
    buckets = [(s[1]["le"], s[2]) for s in latency.samples if s[0].endswith("_bucket")]  # type: ignore[attr-defined]
    assert buckets == [("0.1", 1.0), ("1.0", 3.0), ("+Inf", 4.0)]
    assert families["temperature_celsius"].samples[0][2] == 41.5  # type: ignore[attr-defined]


def test_openmetrics_families() -> None:
    """OpenMetrics output (counter family without _total, info, # EOF) parses too."""
    families = _families(generate_openmetrics(registry()).decode())
    assert families["http_requests"].type == "counter"  # type: ignore[attr-defined]
    assert {s[0] for s in families["http_requests"].samples} == {
        "http_requests_total",
        "http_requests_created",
    }  # type: ignore[attr-defined]
    assert families["build"].type == "info"  # type: ignore[attr-defined]


def test_special_values_timestamps_and_exemplars() -> None:
    """+Inf, NaN, sample timestamps and exemplars are handled."""
    families = _families('a 1 1700000000000\nb +Inf\nc NaN\nd_total{x="1"} 5 # {trace_id="abc"} 1.0\n')
    assert families["a"].samples[0][2] == 1  # type: ignore[attr-defined]
    assert math.isinf(families["b"].samples[0][2]) and math.isnan(families["c"].samples[0][2])  # type: ignore[attr-defined]
    assert families["d_total"].samples[0][2] == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("page", "needle"),
    [
        ("<html><body>Not metrics</body></html>", "line 1"),
        ("ok 1\nbad{x=1} 2\n", "line 2: malformed label set"),
        ('x{a="unterminated} 1\n', "unterminated"),
        ("x one\n", "not a number"),
        ("# TYPE x widget\n", "unknown metric type"),
        ("x\n", "without a value"),
    ],
)
def test_malformed_pages_name_the_line(page: str, needle: str) -> None:
    """HTML and malformed lines raise ExpositionError naming the line and the problem."""
    with pytest.raises(ExpositionError, match=needle):
        parse(page)
