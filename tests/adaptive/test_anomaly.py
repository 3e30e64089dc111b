"""The streaming anomaly detector on encoded metric fragments."""

from __future__ import annotations

import random

import pytest

from edge_agent.adaptive.anomaly import AnomalyDetector, EwmaStats
from edge_agent.adaptive.config import AnomalyConfig, SeriesSelector
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import MetricsBuilder
from edge_agent.otlp.fragment import Fragment

RESOURCE = attributes.resource({"service.name": "t"})
SCOPE = attributes.scope("test")


def gauge(name: str, value: float, t: int, attrs: dict[str, str] | None = None) -> Fragment:
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=t * 10**9)
    b.gauge(name, [(attrs, value)])
    b.gauge("other.metric", 1.0)
    return b.build()


def counter(name: str, value: int, t: int) -> Fragment:
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=t * 10**9, start_time_ns=1)
    b.sum(name, value)
    return b.build()


def detector(**changes: object) -> AnomalyDetector:
    config = AnomalyConfig(**{"series": ("cpu.load",), "warmup": 20, "threshold": 4.0, **changes})  # type: ignore[arg-type]
    return AnomalyDetector(config)


def test_spike_after_warmup_is_flagged_once_and_baseline_barely_moves() -> None:
    """A noisy series is quiet; a 10-sigma spike is one anomaly with its value, mean and score;
    the clipped update keeps the baseline near where it was."""
    d = detector()
    rng = random.Random(1)
    for t in range(200):
        assert d.observe(gauge("cpu.load", 1.0 + rng.gauss(0, 0.05), t)) == []
    found = d.observe(gauge("cpu.load", 3.0, 200))
    assert len(found) == 1
    a = found[0]
    assert (a.metric, a.value, a.time_ns) == ("cpu.load", 3.0, 200 * 10**9)
    assert a.mean == pytest.approx(1.0, abs=0.05)
    assert a.score > 10
    assert "cpu.load = 3 (mean 1" in a.describe()
    stats = d.series[("cpu.load", ())].stats
    assert stats.mean == pytest.approx(1.0, abs=0.1)


def test_nothing_is_flagged_during_warmup() -> None:
    """The first warmup values only teach the baseline."""
    d = detector(warmup=20)
    values = [1.0] * 10 + [50.0] + [1.0] * 8
    assert [a for t, v in enumerate(values) for a in d.observe(gauge("cpu.load", v, t))] == []


def test_flat_series_tolerates_tiny_wiggles() -> None:
    """A perfectly flat series does not call a 0.1% change an anomaly (sigma floor of 1% of the mean)."""
    d = detector()
    for t in range(50):
        d.observe(gauge("cpu.load", 0.42, t))
    assert d.observe(gauge("cpu.load", 0.4204, 50)) == []
    assert len(d.observe(gauge("cpu.load", 0.6, 51))) == 1


def test_level_shift_is_adopted() -> None:
    """A lasting new level stops being anomalous after a while."""
    d = detector(alpha=0.1)
    rng = random.Random(2)
    for t in range(100):
        d.observe(gauge("cpu.load", 1.0 + rng.gauss(0, 0.05), t))
    flags = [bool(d.observe(gauge("cpu.load", 2.0 + rng.gauss(0, 0.05), t))) for t in range(100, 300)]
    assert flags[0]
    assert not any(flags[-50:])


def test_series_are_per_attribute_set_and_filtered() -> None:
    """Each attribute set is its own series; an attribute filter watches only matching points."""
    d = detector(series=("cpu.util{state=user}",))
    for t in range(30):
        d.observe(gauge("cpu.util", 0.1, t, {"state": "user", "cpu": "0"}))
        d.observe(gauge("cpu.util", 0.1, t, {"state": "idle", "cpu": "0"}))
    assert list(d.series) == [("cpu.util", (("cpu", "0"), ("state", "user")))]
    assert d.observe(gauge("cpu.util", 0.99, 31, {"state": "idle", "cpu": "0"})) == []
    assert len(d.observe(gauge("cpu.util", 0.99, 31, {"state": "user", "cpu": "0"}))) == 1


def test_counters_are_watched_as_rates() -> None:
    """A monotonic cumulative sum is judged by its rate: steady growth is normal, a jump in the rate is not."""
    d = detector(series=("errors",))
    total = 0
    for t in range(60):
        total += 10 + (t % 3)
        assert d.observe(counter("errors", total, t)) == []
    total += 500
    found = d.observe(counter("errors", total, 60))
    assert len(found) == 1
    assert found[0].value == 500.0  # per second: one second between the two points


def test_fragments_without_watched_names_are_not_decoded() -> None:
    """The byte search skips fragments that cannot hold a watched series."""
    d = detector()
    for t in range(10):
        d.observe(gauge("mem.used", 1.0, t))
    assert d.decoded == 0
    d.observe(gauge("cpu.load", 1.0, 11))
    assert d.decoded == 1


def test_series_count_is_bounded() -> None:
    """Past max_series new series are ignored and counted."""
    d = detector(series=("cpu.util",), max_series=3)
    for cpu in range(5):
        d.observe(gauge("cpu.util", 0.5, 1, {"cpu": str(cpu)}))
    assert len(d.series) == 3
    assert d.ignored_series == 2


def test_disabled_detector_sees_nothing() -> None:
    """adaptive.anomaly.enabled = false: no decoding, no anomalies."""
    d = detector(enabled=False)
    assert not d.wants(gauge("cpu.load", 1.0, 0))


@pytest.mark.parametrize(
    ("text", "selector"),
    [
        ("system.cpu.load_average.1m", SeriesSelector("system.cpu.load_average.1m")),
        ("a.b{x=1, w = two}", SeriesSelector("a.b", (("w", "two"), ("x", "1")))),
    ],
)
def test_series_selector_parses(text: str, selector: SeriesSelector) -> None:
    """Series are a metric name with an optional {key=value,...} filter."""
    assert SeriesSelector.parse(text) == selector


@pytest.mark.parametrize(("text", "message"), [("a b", "invalid series"), ("a{x}", "use key=value")])
def test_series_selector_errors(text: str, message: str) -> None:
    """Malformed series selections are rejected with the expected form."""
    with pytest.raises(ValueError, match=message):
        SeriesSelector.parse(text)


def test_ewma_stats_match_the_exact_mean_of_a_constant() -> None:
    """A constant input has that mean and no variance."""
    stats = EwmaStats(0.1)
    for _ in range(10):
        stats.update(5.0)
    assert (stats.mean, stats.variance) == (5.0, 0.0)


def test_malformed_fragments_are_counted_not_raised() -> None:
    """A fragment that names a watched metric but does not parse is skipped and counted."""
    d = detector()
    good = gauge("cpu.load", 1.0, 0)
    broken = Fragment(good.signal, good.payload[:-5], 1)
    assert d.observe(broken) == []
    assert d.malformed == 1
