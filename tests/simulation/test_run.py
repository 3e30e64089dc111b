"""Simulator runs of the real agent, with assertions on the numbers each scenario produces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent.simulation.report import format_report
from edge_agent.simulation.run import simulate
from edge_agent.simulation.scenario import Scenario, load_scenario, scenario_from_text

SCENARIOS = Path(__file__).parent.parent.parent / "tools" / "scenarios"

WORKLOAD = """
[plugins.metrics]
type = "sim_gauges"
interval = "10s"
series = 5

[plugins.alerts]
type = "sim_gauges"
interval = "30s"
priority = "critical"
series = 1

[plugins.debug]
type = "sim_logs"
interval = "10s"
priority = "bulk"
lines = 5
"""


def shortened(path: Path, duration: float) -> Scenario:
    scenario = load_scenario(path)
    return dataclasses.replace(
        scenario, sim=dataclasses.replace(scenario.sim, duration=duration, drain=1800.0)
    )


async def test_always_on_delivers_everything_fresh(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """On a good link every record arrives once, within a second or two, with no failed attempts;
    the agent stays in normal mode and its CPU is measured."""
    scenario = scenario_from_text(f"[simulation]\nduration = '1h'\ndrain = '10m'\n{WORKLOAD}")
    report = await simulate(scenario, state_dir=tmp_path)
    assert set(report.priorities) == {"critical", "normal", "bulk"}
    for p in report.priorities.values():
        assert p.collected > 0
        assert p.delivered == p.collected
        assert p.duplicates == 0
        assert p.p99 is not None and p.p99 < 2.0
    assert 360 * 5 <= report.priorities["normal"].collected <= 363 * 5  # ticks at 0, 10 ... 3600 s, + drain
    assert report.failed_attempts == 0
    assert report.transitions == {}
    assert 0 < report.agent_cpu_s < report.cpu_s
    text = format_report(report)
    assert "priority  collected delivered" in text
    assert "export attempts" in text


async def test_same_seed_same_numbers(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A scenario and seed reproduce exactly: same deliveries, attempts and freshness. (Bytes differ
    by a few: the agent's self-telemetry carries its real CPU time and RSS.)"""
    text = f"[simulation]\nduration = '40m'\ndrain = '10m'\nseed = 4\n[link]\nkind = 'cellular'\nloss = 0.2\n{WORKLOAD}"
    first = await simulate(scenario_from_text(text), state_dir=tmp_path / "a")
    second = await simulate(scenario_from_text(text), state_dir=tmp_path / "b")
    assert first.failed_attempts > 0
    assert (first.priorities, first.attempts, first.failed_attempts) == (
        second.priorities,
        second.attempts,
        second.failed_attempts,
    )
    assert abs(first.bytes_on_link - second.bytes_on_link) < 0.01 * first.bytes_on_link


async def test_2g_link_delivers_within_its_bandwidth(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """On the 2G-like trace (20 kB/s, 10 % of transfers lost) every critical record arrives and the
    bytes on the link never exceed what 20 kB/s allows."""
    report = await simulate(shortened(SCENARIOS / "cellular_2g.toml", 3600.0), state_dir=tmp_path)
    critical = report.priorities["critical"]
    assert critical.delivered == critical.collected
    assert report.failed_attempts > 0  # loss is real
    assert report.bytes_on_link <= 20_000 * 3600.0
    assert report.priorities["normal"].p50 is not None


def without_predictor(scenario: Scenario) -> Scenario:
    adaptive = scenario.config.adaptive
    predictor = dataclasses.replace(adaptive.predictor, enabled=False)
    return scenario.with_agent(adaptive=dataclasses.replace(adaptive, predictor=predictor))


@pytest.mark.slow
async def test_predictor_halves_failed_attempts_on_the_flapping_link(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """On the flapping trace (5 min up / 5 min down, fixed seed) the link predictor cuts failed export
    attempts by at least half compared with plain backoff and circuit breaker, delivers everything,
    and its skip verdicts are mostly right about the link."""
    scenario = shortened(SCENARIOS / "flapping.toml", 4 * 3600.0)
    with_model = await simulate(scenario, state_dir=tmp_path / "on")
    plain = await simulate(without_predictor(scenario), state_dir=tmp_path / "off")
    assert plain.failed_attempts >= 200  # ~10 per outage: the baseline really does fail
    assert with_model.failed_attempts <= 0.5 * plain.failed_attempts
    assert with_model.skips > 0
    assert with_model.skip_precision is not None and with_model.skip_precision >= 0.8
    for report in (with_model, plain):
        for p in report.priorities.values():
            assert p.undelivered == 0


@pytest.mark.slow
async def test_nightly_outage_with_a_16mib_budget(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """An 8 h outage (00:00-08:00) on a 16 MiB buffer: no critical record is lost, the agent goes
    offline then short of disk and back to normal, probes at most once per breaker interval, and
    once it reconnects fresh normal data arrives within one collection interval (p99 within two)
    while the backlog drains."""
    scenario = load_scenario(SCENARIOS / "nightly_outage.toml")
    sim = dataclasses.replace(scenario.sim, start="2026-01-05T22:00:00Z", duration=12 * 3600.0, drain=3600.0)
    report = await simulate(dataclasses.replace(scenario, sim=sim), state_dir=tmp_path)
    critical, normal = report.priorities["critical"], report.priorities["normal"]
    assert critical.collected > 0
    assert critical.undelivered == 0
    assert normal.undelivered == 0
    assert report.outage_hours == 8.0
    interval = 10.0
    assert normal.first_fresh_after_reconnect is not None and normal.first_fresh_after_reconnect <= interval
    assert normal.reconnect_p99 is not None and normal.reconnect_p99 <= 2 * interval
    max_open = scenario.config.exporter.circuit_breaker.max_open_interval
    assert report.connects_while_down <= 8 * 3600.0 / max_open + 10
    assert report.max_connects_per_minute_down <= 6  # the first seconds: retries until the breaker opens
    assert {"normal->offline", "offline->disk_pressure", "disk_pressure->normal"} <= set(report.transitions)
    assert report.downsampled > 0
