"""Degradation modes: an explicit state machine with hysteresis (sans-IO).

Theory of operation. Three *conditions* are tracked independently, each by
a :class:`Latch`:

* ``constrained``: resource pressure. The device CPU or memory is above its
  high mark, the agent's RSS is above ``max_rss``, its CPU use is above the
  budget, or the device runs on a low battery.
* ``offline``: the exporter's circuit breakers are all open (the link is
  down; the breakers already needed several consecutive failures).
* ``disk_pressure``: the buffer is filled above ``fill_high``.

A latch turns on once its condition has held for ``enter_after`` and turns
off once the signals have been below their *low* marks for ``exit_after``.
Between the low and the high mark nothing changes and both timers restart:
a signal hovering around the threshold never makes the mode flap.

The *mode* is the most severe active condition, in the precedence
``disk_pressure > offline > constrained > normal``: disk pressure means data
is about to be lost, offline means it piles up, constrained only that the
device is busy. The behaviours of every active condition still apply (see
:mod:`edge_agent.adaptive.pacing` and ``docs/degradation.md``); the mode
names the one that matters most.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from edge_agent.adaptive.config import AdaptiveConfig
from edge_agent.adaptive.signals import PressureSample


class Mode(str, enum.Enum):
    NORMAL = "normal"
    CONSTRAINED = "constrained"
    OFFLINE = "offline"
    DISK_PRESSURE = "disk_pressure"


# most severe first; NORMAL is what remains when no condition is active
PRECEDENCE = (Mode.DISK_PRESSURE, Mode.OFFLINE, Mode.CONSTRAINED)


@dataclass
class Latch:
    """One condition with hysteresis: on after ``enter_after`` above, off after ``exit_after`` clear."""

    enter_after: float
    exit_after: float
    active: bool = False
    _since: float | None = field(default=None, repr=False)  # when the pending change was first seen

    def update(self, now: float, *, above: bool, clear: bool) -> bool:
        """Feed one observation; True when the latch flipped."""
        wanted = clear if self.active else above
        if not wanted:
            self._since = None  # back in (or never left) the band: the pending change is off
            return False
        if self._since is None:
            self._since = now
        if now - self._since >= (self.exit_after if self.active else self.enter_after):
            self.active = not self.active
            self._since = None
            return True
        return False


@dataclass(frozen=True)
class Transition:
    at: float
    old: Mode
    new: Mode
    reason: str

    def describe(self) -> str:
        return f"mode {self.old.value} -> {self.new.value}: {self.reason}"


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


class ModeMachine:
    def __init__(self, config: AdaptiveConfig, *, now: float = 0.0) -> None:
        self.config = config
        timing = (config.enter_after, config.exit_after)
        # the breakers debounce the link already: offline follows them without extra delay
        self.latches = {
            Mode.CONSTRAINED: Latch(*timing),
            Mode.OFFLINE: Latch(0.0, 0.0),
            Mode.DISK_PRESSURE: Latch(*timing),
        }
        self.mode = Mode.NORMAL
        self.since = now
        self.reasons: dict[Mode, str] = {}
        self.flipped: list[tuple[Mode, bool]] = []  # conditions that changed in the last update

    def reconfigure(self, config: AdaptiveConfig) -> None:
        self.config = config
        for mode in (Mode.CONSTRAINED, Mode.DISK_PRESSURE):
            self.latches[mode].enter_after = config.enter_after
            self.latches[mode].exit_after = config.exit_after

    def active(self) -> tuple[Mode, ...]:
        """Every condition currently latched, most severe first."""
        return tuple(m for m in PRECEDENCE if self.latches[m].active)

    def update(self, sample: PressureSample) -> Transition | None:
        """Feed one sample; returns the mode transition it caused, if any."""
        now = sample.at
        self.flipped = []
        for mode, (above, clear, why) in self._conditions(sample).items():
            if above:
                self.reasons[mode] = why
            if self.latches[mode].update(now, above=above, clear=clear):
                self.flipped.append((mode, self.latches[mode].active))
        active = self.active()
        new = active[0] if active else Mode.NORMAL
        if new is self.mode:
            return None
        old, self.mode, self.since = self.mode, new, now
        if new is Mode.NORMAL:
            reason = f"{old.value} condition cleared"
        else:
            reason = self.reasons.get(new, "")
            if old is not Mode.NORMAL and self.latches[old].active:
                reason += f" ({old.value} still applies)"
        return Transition(now, old, new, reason)

    def _conditions(self, s: PressureSample) -> dict[Mode, tuple[bool, bool, str]]:
        return {
            Mode.CONSTRAINED: self._resources(s),
            Mode.OFFLINE: (s.link_up is False, s.link_up is not False, "upstream unreachable"),
            Mode.DISK_PRESSURE: (
                s.buffer_fill >= self.config.fill_high,
                s.buffer_fill < self.config.fill_low,
                f"buffer {_pct(s.buffer_fill)} full (>= {_pct(self.config.fill_high)})",
            ),
        }

    def _resources(self, s: PressureSample) -> tuple[bool, bool, str]:
        c = self.config
        reasons: list[str] = []
        clear = True
        if s.host_cpu is not None:
            if s.host_cpu >= c.host_cpu_high:
                reasons.append(f"device CPU {_pct(s.host_cpu)} busy")
            clear &= s.host_cpu < c.host_cpu_low
        if s.memory_used is not None:
            if s.memory_used >= c.memory_high:
                reasons.append(f"device memory {_pct(s.memory_used)} used")
            clear &= s.memory_used < c.memory_low
        if s.rss is not None and c.max_rss:
            if s.rss >= c.max_rss:
                reasons.append(f"agent RSS {s.rss >> 20} MiB >= max_rss {c.max_rss >> 20} MiB")
            clear &= s.rss < 0.9 * c.max_rss
        if s.agent_cpu is not None:
            if s.agent_cpu >= c.cpu_budget:
                reasons.append(f"agent CPU {s.agent_cpu * 100:.1f}% >= {c.max_cpu_percent:g}% of a core")
            clear &= s.agent_cpu < 0.7 * c.cpu_budget
        if s.on_battery and s.battery_percent is not None:
            if s.battery_percent < c.battery_low_percent:
                reasons.append(f"on battery at {s.battery_percent:.0f}%")
            clear &= s.battery_percent >= c.battery_low_percent + 5
        return bool(reasons), clear, ", ".join(reasons)
