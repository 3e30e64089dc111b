"""Effective intervals from mode, CPU budget, power and anomaly bursts, always within [min, max]."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.adaptive.config import AdaptiveConfig, AnomalyConfig
from edge_agent.adaptive.modes import Mode
from edge_agent.adaptive.pacing import CpuGovernor, PacingPolicy, PacingSpec
from edge_agent.otlp.fragment import Priority

CONFIG = AdaptiveConfig(anomaly=AnomalyConfig(burst_factor=4.0, burst_duration=300.0, quiet_after=1800.0))


def spec(
    priority: Priority = Priority.NORMAL,
    *,
    base: float = 10.0,
    lo: float = 2.5,
    hi: float = 60.0,
    watched: bool = False,
) -> PacingSpec:
    return PacingSpec("p", base, lo, hi, priority, watched)


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((), {Priority.CRITICAL: 10.0, Priority.NORMAL: 10.0, Priority.BULK: 10.0}),
        ((Mode.CONSTRAINED,), {Priority.CRITICAL: 10.0, Priority.NORMAL: 20.0, Priority.BULK: 40.0}),
        ((Mode.OFFLINE,), {Priority.CRITICAL: 10.0, Priority.NORMAL: 10.0, Priority.BULK: 10.0}),
        ((Mode.DISK_PRESSURE,), {Priority.CRITICAL: 10.0, Priority.NORMAL: 20.0, Priority.BULK: "shed"}),
        (
            (Mode.OFFLINE, Mode.CONSTRAINED),
            {Priority.CRITICAL: 10.0, Priority.NORMAL: 20.0, Priority.BULK: 40.0},
        ),
    ],
)
def test_mode_factors_per_priority(conditions: tuple[Mode, ...], expected: dict[Priority, object]) -> None:
    """Each active condition slows normal and bulk plugins by its factor (the largest wins);
    critical plugins keep their interval; offline keeps the resolution (the downsampler folds it);
    disk pressure sheds bulk scrapes."""
    policy = PacingPolicy(CONFIG)
    policy.conditions = conditions
    got: dict[Priority, object] = {}
    for priority in Priority:
        pace = policy.pace(spec(priority), now=0.0)
        got[priority] = "shed" if pace.shed else pace.interval
    assert got == expected


def test_stretch_is_clamped_to_max_interval() -> None:
    """However large the stretch, the interval stays at max_interval."""
    policy = PacingPolicy(CONFIG)
    policy.conditions = (Mode.CONSTRAINED,)
    policy.governor.stretch = 50.0
    policy.on_battery = True
    pace = policy.pace(spec(Priority.BULK, hi=30.0), now=0.0)
    assert pace.interval == 30.0
    assert pace.why == "constrained x4, cpu budget x50, on battery x2"


def test_burst_speeds_up_within_min_interval_then_ends() -> None:
    """An anomaly burst divides the interval by burst_factor (not below min_interval) until it expires."""
    policy = PacingPolicy(CONFIG)
    policy.burst(("p",), now=100.0)
    assert policy.pace(spec(), now=101.0).interval == 2.5
    assert policy.pace(spec(lo=5.0), now=101.0).interval == 5.0
    assert policy.pace(spec(Priority.CRITICAL), now=399.0).interval == 2.5
    assert policy.pace(spec(), now=400.0).interval == 10.0


def test_burst_under_pressure_still_collects_faster_than_constrained() -> None:
    """A burst while constrained: x2 for the mode, /4 for the burst."""
    policy = PacingPolicy(CONFIG)
    policy.conditions = (Mode.CONSTRAINED,)
    policy.burst(("p",), now=0.0)
    assert policy.pace(spec(), now=1.0).interval == 5.0


def test_watched_plugins_slow_down_when_quiet() -> None:
    """A plugin with watched series collects quiet_factor slower once no anomaly was seen for
    quiet_after; unwatched plugins are not affected; an anomaly ends the quiet."""
    policy = PacingPolicy(CONFIG)
    policy.started = 0.0
    assert policy.pace(spec(watched=True), now=1799.0).interval == 10.0
    assert policy.pace(spec(watched=True), now=1800.0).interval == 20.0
    assert policy.pace(spec(watched=False), now=1800.0).interval == 10.0
    policy.burst(("other",), now=1900.0)
    assert policy.pace(spec(watched=True), now=1901.0).interval == 10.0


def test_fixed_interval_plugins_and_disabled_policy_never_move() -> None:
    """min == max means not adaptive; adaptive.enabled = false keeps every base interval."""
    policy = PacingPolicy(CONFIG)
    policy.conditions = (Mode.DISK_PRESSURE,)
    assert policy.pace(spec(Priority.BULK, lo=10.0, hi=10.0), now=0.0).interval == 10.0
    off = PacingPolicy(AdaptiveConfig(enabled=False))
    off.conditions = (Mode.DISK_PRESSURE,)
    pace = off.pace(spec(Priority.BULK), now=0.0)
    assert (pace.interval, pace.shed) == (10.0, False)


@given(
    st.floats(min_value=0.01, max_value=1000),
    st.floats(min_value=0.01, max_value=100),
    st.floats(min_value=1, max_value=100),
    st.sampled_from(list(Priority)),
    st.lists(st.sampled_from([Mode.CONSTRAINED, Mode.OFFLINE]), unique=True),
    st.floats(min_value=1, max_value=64),
    st.booleans(),
)
def test_interval_always_within_bounds(
    base: float, lo: float, span: float, priority: Priority, conditions: list[Mode], cpu: float, battery: bool
) -> None:
    """Any combination of conditions, budget stretch and power keeps the interval in [min, max]."""
    policy = PacingPolicy(CONFIG)
    policy.conditions = tuple(conditions)
    policy.governor.stretch = cpu
    policy.on_battery = battery
    s = PacingSpec("p", base, lo, lo * span, priority)
    assert lo <= policy.pace(s, now=0.0).interval <= lo * span


def test_cpu_governor_tracks_the_budget_with_hysteresis() -> None:
    """Over budget the stretch grows with the overshoot (at most x2 a step); between half and the
    full budget it holds; well under it relaxes back to 1."""
    gov = CpuGovernor(budget=0.02)
    assert gov.update(None) == 1.0
    assert gov.update(0.03) == pytest.approx(1.5)
    assert gov.update(0.10) == pytest.approx(3.0)  # x5 overshoot, capped at x2 per step
    assert gov.update(0.015) == pytest.approx(3.0)  # inside the band: hold
    assert gov.update(0.005) == pytest.approx(2.4)
    for _ in range(20):
        gov.update(0.005)
    assert gov.stretch == 1.0


def test_cpu_governor_converges_on_a_simulated_agent() -> None:
    """An agent whose CPU use is inversely proportional to its interval stretch (4% unthrottled)
    settles within the 2% budget and does not oscillate out of it."""
    gov = CpuGovernor(budget=0.02)
    used = []
    for _ in range(50):
        use = 0.04 / gov.stretch
        used.append(use)
        gov.update(use)
    assert max(used[5:]) <= 0.02
    assert min(used[5:]) >= 0.01  # it does not over-throttle either


def test_spec_bounds_are_checked() -> None:
    """min_interval above max_interval is a programming error."""
    with pytest.raises(ValueError, match="min_interval <= max_interval"):
        PacingSpec("p", 10, 20, 5, Priority.NORMAL)
