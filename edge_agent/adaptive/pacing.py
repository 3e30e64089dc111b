"""How often each plugin collects: the effective interval from pressure, mode and anomalies (sans-IO).

Theory of operation. Every scraper has a configured ``interval`` (its base)
and bounds ``[min_interval, max_interval]``. Its effective interval is
``base x stretch``, clamped to the bounds, where the stretch multiplies:

* the **mode factors** of every active condition (the largest per priority):

  ============== ======== ====== ====== ==================================
  condition      critical normal bulk   notes
  ============== ======== ====== ====== ==================================
  constrained    1        2      4      device busy: give the CPU back
  offline        1        1      1      bulk metrics are downsampled instead
  disk_pressure  1        2      shed   bulk scrapes are skipped entirely;
                                        normal metrics downsampled (5 min)
  ============== ======== ====== ====== ==================================

  Offline, collection keeps its resolution: the downsampler folds it into
  min/max/avg/last aggregates, which keeps the peaks a slower scrape would
  miss, at a fraction of the bytes.

* the **CPU governor** (not for ``critical``): a multiplicative controller
  that keeps the agent's own CPU use under ``max_cpu_percent``. Over the
  budget the stretch grows in proportion to the overshoot (at most x2 per
  sample); under half the budget it relaxes by /1.25 per sample; in
  between it holds (hysteresis, so it does not oscillate).
* **power** (not for ``critical``): x2 while on battery.
* **anomaly burst**: divided by ``burst_factor`` while the plugin bursts;
  otherwise, for plugins with watched series, x ``quiet_factor`` once no
  anomaly was seen for ``quiet_after`` (collect less when all is quiet).

Critical plugins (self-telemetry, alerts) keep their base interval under
every condition; only a burst moves them (faster).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.adaptive.config import AdaptiveConfig
from edge_agent.adaptive.modes import Mode
from edge_agent.otlp.fragment import Priority

SHED = 0.0  # mode factor meaning "skip the tick"

MODE_FACTORS: dict[Mode, dict[Priority, float]] = {
    Mode.CONSTRAINED: {Priority.CRITICAL: 1.0, Priority.NORMAL: 2.0, Priority.BULK: 4.0},
    Mode.OFFLINE: {Priority.CRITICAL: 1.0, Priority.NORMAL: 1.0, Priority.BULK: 1.0},
    Mode.DISK_PRESSURE: {Priority.CRITICAL: 1.0, Priority.NORMAL: 2.0, Priority.BULK: SHED},
}
BATTERY_FACTOR = 2.0
MAX_GOVERNOR_STRETCH = 64.0


@dataclass(frozen=True)
class PacingSpec:
    """A scraper's configured schedule."""

    name: str
    base: float
    minimum: float
    maximum: float
    priority: Priority
    watched: bool = False  # emits series the anomaly detector watches

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.maximum:
            raise ValueError(f"{self.name}: need 0 < min_interval <= max_interval")

    @property
    def adaptive(self) -> bool:
        return self.minimum < self.maximum


@dataclass(frozen=True)
class Pace:
    interval: float
    shed: bool = False
    why: str = ""  # e.g. "constrained x2, cpu budget x1.5"


class CpuGovernor:
    """Stretch factor that keeps the agent's CPU use (in cores) under ``budget``."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.stretch = 1.0

    def update(self, used: float | None) -> float:
        if used is None or self.budget <= 0:
            return self.stretch
        if used > self.budget:
            self.stretch = min(MAX_GOVERNOR_STRETCH, self.stretch * min(2.0, used / self.budget))
        elif used < 0.5 * self.budget:
            self.stretch = max(1.0, self.stretch / 1.25)
        return self.stretch


class PacingPolicy:
    def __init__(self, config: AdaptiveConfig) -> None:
        self.config = config
        self.governor = CpuGovernor(config.cpu_budget)
        self.conditions: tuple[Mode, ...] = ()
        self.on_battery = False
        self._bursts: dict[str, float] = {}  # plugin -> burst end (trio clock)
        self.last_anomaly: float | None = None
        self.started = 0.0

    def reconfigure(self, config: AdaptiveConfig) -> None:
        self.config = config
        self.governor.budget = config.cpu_budget

    # -- inputs ------------------------------------------------------------

    def burst(self, plugins: tuple[str, ...], now: float) -> None:
        """An anomaly: ``plugins`` collect faster until ``now + burst_duration``."""
        until = now + self.config.anomaly.burst_duration
        for name in plugins:
            self._bursts[name] = max(self._bursts.get(name, 0.0), until)
        self.last_anomaly = now

    def is_bursting(self, name: str, now: float) -> bool:
        return self._bursts.get(name, 0.0) > now

    def burst_ends(self) -> list[float]:
        return sorted(self._bursts.values())

    # -- output ------------------------------------------------------------

    def pace(self, spec: PacingSpec, now: float) -> Pace:
        if not self.config.enabled or not spec.adaptive:
            return Pace(_clamp(spec.base, spec))
        factors: list[str] = []
        stretch = 1.0
        for mode in self.conditions:
            factor = MODE_FACTORS[mode][spec.priority]
            if factor == SHED:
                return Pace(spec.maximum, shed=True, why=f"{mode.value}: {spec.priority.name.lower()} shed")
            if factor > stretch:
                stretch, factors = factor, [f"{mode.value} x{factor:g}"]
        if spec.priority is not Priority.CRITICAL:
            stretch *= self._extra(factors)
        anomaly = self.config.anomaly
        if self.is_bursting(spec.name, now):
            stretch /= anomaly.burst_factor
            factors.append(f"anomaly burst /{anomaly.burst_factor:g}")
        elif spec.watched and self._quiet(now):
            stretch *= anomaly.quiet_factor
            factors.append(f"quiet x{anomaly.quiet_factor:g}")
        return Pace(_clamp(spec.base * stretch, spec), why=", ".join(factors))

    def _extra(self, factors: list[str]) -> float:
        stretch = 1.0
        if self.governor.stretch > 1.0:
            stretch *= self.governor.stretch
            factors.append(f"cpu budget x{self.governor.stretch:.2g}")
        if self.on_battery:
            stretch *= BATTERY_FACTOR
            factors.append(f"on battery x{BATTERY_FACTOR:g}")
        return stretch

    def _quiet(self, now: float) -> bool:
        anomaly = self.config.anomaly
        if not anomaly.enabled:
            return False
        since = self.last_anomaly if self.last_anomaly is not None else self.started
        return now - since >= anomaly.quiet_after


def _clamp(value: float, spec: PacingSpec) -> float:
    return min(spec.maximum, max(spec.minimum, value))
