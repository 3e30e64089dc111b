"""Scenario files: the shipped ones load, bad ones are refused precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.errors import ConfigError
from edge_agent.simulation.scenario import load_scenario, parse_start, scenario_from_text

SCENARIOS = Path(__file__).parent.parent.parent / "tools" / "scenarios"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    """Every scenario in tools/scenarios/ validates and runs sim plugins only, admin pinned off."""
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert {p.type for p in scenario.config.plugins} <= {"sim_gauges", "sim_logs"}
    assert scenario.config.admin.enabled is False
    assert scenario.sim.duration >= 3600


def test_four_link_traces_are_covered() -> None:
    """The issue's traces each have a scenario: always on, flapping, nightly outage, 2G-like."""
    kinds = {load_scenario(p).link.kind for p in SCENARIOS.glob("*.toml")}
    assert kinds >= {"always_on", "flapping", "nightly", "cellular"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[link]\nkind = 'dialup'\n", r"link\.kind: must be one of"),
        ("[simulation]\nduraton = '1h'\n", r"simulation\.duraton: unknown key; did you mean 'duration'"),
        ("[buffer]\nmax_memory_bytes = 'lots'\n", r"buffer\.max_memory_bytes: invalid size 'lots'"),
        (
            "[plugins.x]\ntype = 'sim_gauge'\n",
            r"plugins\.x\.type: unknown plugin type 'sim_gauge'; did you mean",
        ),
        ("[simulation]\nstart = 'monday'\n", r"simulation\.start: expected a UTC time"),
        ("[host]\ncpu = 'busy'\n", r"host\.cpu: expected a number"),
    ],
)
def test_bad_scenarios_name_the_key(text: str, message: str) -> None:
    """Typos and bad values in any section are errors naming the key and line."""
    with pytest.raises(ConfigError, match=message):
        scenario_from_text(text, "bad.toml")


def test_start_and_host_busy_period() -> None:
    """The wall-clock start parses as UTC; the host is busy only inside its busy period."""
    scenario = scenario_from_text(
        "[simulation]\nstart = '2026-01-05T22:30:00Z'\n[host]\nbusy_from = '1h'\nbusy_until = '2h'\n"
    )
    assert scenario.start_ns == parse_start("2026-01-05T22:30:00Z")
    assert scenario.start_hour == 22.5
    assert [scenario.host.reading(t).host_cpu for t in (0, 3600, 7199, 7200)] == [0.2, 0.98, 0.98, 0.2]
