"""The degradation mode machine: each transition from synthetic pressure signals, hysteresis, precedence."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.adaptive.config import AdaptiveConfig
from edge_agent.adaptive.modes import Latch, Mode, ModeMachine
from edge_agent.adaptive.signals import PressureSample

CONFIG = AdaptiveConfig(enter_after=20.0, exit_after=60.0)
CALM = {"host_cpu": 0.2, "memory_used": 0.3, "rss": 30 << 20, "agent_cpu": 0.005, "link_up": True}


def sample(at: float, **signals: object) -> PressureSample:
    return PressureSample(at=at, **{**CALM, **signals})  # type: ignore[arg-type]


def drive(machine: ModeMachine, steps: list[tuple[float, dict[str, object]]]) -> list[tuple[float, str, str]]:
    """Feed samples; return (time, from, to) of every transition."""
    seen = []
    for at, signals in steps:
        t = machine.update(sample(at, **signals))
        if t is not None:
            seen.append((t.at, t.old.value, t.new.value))
    return seen


def every(seconds: float, until: float, **signals: object) -> list[tuple[float, dict[str, object]]]:
    steps = []
    t = 0.0
    while t <= until:
        steps.append((t, signals))
        t += seconds
    return steps


@pytest.mark.parametrize(
    ("signals", "mode", "reason"),
    [
        ({"host_cpu": 0.97}, Mode.CONSTRAINED, "device CPU 97% busy"),
        ({"memory_used": 0.95}, Mode.CONSTRAINED, "device memory 95% used"),
        ({"rss": 120 << 20}, Mode.CONSTRAINED, "agent RSS 120 MiB >= max_rss 96 MiB"),
        ({"agent_cpu": 0.05}, Mode.CONSTRAINED, "agent CPU 5.0% >= 2% of a core"),
        ({"on_battery": True, "battery_percent": 12.0}, Mode.CONSTRAINED, "on battery at 12%"),
        ({"link_up": False}, Mode.OFFLINE, "upstream unreachable"),
        ({"buffer_fill": 0.93}, Mode.DISK_PRESSURE, "buffer 93% full (>= 90%)"),
    ],
)
def test_each_signal_enters_its_mode_and_recovers(
    signals: dict[str, object], mode: Mode, reason: str
) -> None:
    """A signal past its high mark enters the mode after enter_after (offline at once); once clear
    for exit_after the machine returns to normal."""
    machine = ModeMachine(CONFIG)
    enter = 0.0 if mode is Mode.OFFLINE else CONFIG.enter_after
    leave = 0.0 if mode is Mode.OFFLINE else CONFIG.exit_after
    steps = [(t, signals) for t in range(0, 41, 5)] + [(t, {}) for t in range(45, 200, 5)]
    transitions = drive(machine, steps)
    assert transitions == [(enter, "normal", mode.value), (45 + leave, mode.value, "normal")]
    assert machine.reasons[mode] == reason


def test_transition_describes_itself() -> None:
    """A transition reads as one log line naming both modes and the reason."""
    machine = ModeMachine(CONFIG)
    machine.update(sample(0, buffer_fill=0.95))
    t = machine.update(sample(20, buffer_fill=0.95))
    assert t is not None
    assert t.describe() == "mode normal -> disk_pressure: buffer 95% full (>= 90%)"


def test_precedence_disk_pressure_over_offline_over_constrained() -> None:
    """With several conditions active the mode is the most severe; as they clear it steps down."""
    machine = ModeMachine(CONFIG)
    hot = {"host_cpu": 0.95}
    steps = [(t, hot) for t in range(0, 30, 5)]
    steps += [(t, {**hot, "link_up": False}) for t in range(30, 60, 5)]
    steps += [(t, {**hot, "link_up": False, "buffer_fill": 0.95}) for t in range(60, 100, 5)]
    steps += [(t, {**hot, "link_up": False}) for t in range(100, 200, 5)]
    steps += [(t, hot) for t in range(200, 230, 5)]
    steps += [(t, {}) for t in range(230, 400, 5)]
    assert drive(machine, steps) == [
        (20, "normal", "constrained"),
        (30, "constrained", "offline"),
        (80, "offline", "disk_pressure"),
        (160, "disk_pressure", "offline"),
        (200, "offline", "constrained"),
        (290, "constrained", "normal"),
    ]
    assert machine.active() == ()


def test_signal_in_the_band_never_flaps() -> None:
    """CPU oscillating between the low and high marks after entering keeps the mode; oscillating
    below the high mark never enters it."""
    machine = ModeMachine(CONFIG)
    wobble = [(t, {"host_cpu": 0.89 if (t // 5) % 2 else 0.71}) for t in range(0, 3600, 5)]
    assert drive(machine, wobble) == []
    machine = ModeMachine(CONFIG)
    enter = [(t, {"host_cpu": 0.95}) for t in range(0, 25, 5)]
    hover = [(t, {"host_cpu": 0.75 if (t // 5) % 2 else 0.85}) for t in range(25, 3600, 5)]
    assert drive(machine, enter + hover) == [(20, "normal", "constrained")]


def test_spikes_shorter_than_enter_after_are_ignored() -> None:
    """A signal that crosses the high mark for less than enter_after at a time never enters the mode."""
    machine = ModeMachine(CONFIG)
    steps = [(t, {"host_cpu": 0.99 if t % 30 < 15 else 0.5}) for t in range(0, 3600, 5)]
    assert drive(machine, steps) == []


def test_dips_shorter_than_exit_after_do_not_leave() -> None:
    """Short calm spells inside a busy period do not leave the mode: at most one entry and one exit."""
    machine = ModeMachine(CONFIG)
    busy = [(t, {"host_cpu": 0.3 if t % 60 < 40 else 0.95}) for t in range(0, 1200, 5)]
    calm = [(t, {}) for t in range(1200, 1400, 5)]
    transitions = drive(machine, [(t, {"host_cpu": 0.95}) for t in range(0, 25, 5)] + busy[5:] + calm)
    assert [(a, b) for _, a, b in transitions] == [("normal", "constrained"), ("constrained", "normal")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=300))
def test_no_transition_faster_than_the_dwell_times(values: list[float]) -> None:
    """Whatever the signal does, two transitions of the CPU condition are at least enter_after
    (into the mode) or exit_after (out of it) apart, counted from when the change began."""
    machine = ModeMachine(CONFIG)
    last = -1e9
    for i, v in enumerate(values):
        t = machine.update(sample(i * 5.0, host_cpu=v))
        if t is not None:
            dwell = CONFIG.enter_after if t.new is Mode.CONSTRAINED else CONFIG.exit_after
            assert t.at - last >= dwell
            last = t.at


def test_latch_holds_between_marks() -> None:
    """A latch flips only after its condition held for the whole dwell; a reset in between restarts it."""
    latch = Latch(enter_after=10, exit_after=30)
    assert not latch.update(0, above=True, clear=False)
    assert not latch.update(5, above=False, clear=False)  # back in the band: timer reset
    assert not latch.update(6, above=True, clear=False)
    assert latch.update(16, above=True, clear=False)
    assert latch.active
    assert not latch.update(20, above=False, clear=True)
    assert latch.update(50, above=False, clear=True)
    assert not latch.active


def test_unknown_signals_are_not_pressure() -> None:
    """None (not measurable on this device) never enters a mode and never blocks leaving one."""
    machine = ModeMachine(CONFIG)
    blank = PressureSample(at=0)
    for t in range(0, 600, 5):
        assert machine.update(dataclasses.replace(blank, at=t)) is None
    assert machine.mode is Mode.NORMAL


def test_thresholds_must_leave_a_band() -> None:
    """A low mark at or above the high mark is a config error naming both keys."""
    with pytest.raises(ValueError, match=r"host_cpu_low \(0.8\) must be below host_cpu_high"):
        AdaptiveConfig(host_cpu_high=0.8, host_cpu_low=0.8)


def test_reconfigure_changes_dwell_times() -> None:
    """New enter/exit times apply to the latches in place."""
    machine = ModeMachine(CONFIG)
    machine.reconfigure(AdaptiveConfig(enter_after=0.0, exit_after=0.0))
    assert drive(machine, [(0, {"host_cpu": 0.99}), (1, {})]) == [
        (0, "normal", "constrained"),
        (1, "constrained", "normal"),
    ]
