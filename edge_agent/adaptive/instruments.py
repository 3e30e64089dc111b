"""Self-metrics of adaptive scheduling (``edge_agent.adaptive.*``, ``anomaly.*``, ``predictor.*``).

* ``adaptive.mode{mode}``: 1 for the current degradation mode, 0 for the others
* ``adaptive.mode.transitions{from,to}``: every mode change
* ``adaptive.interval{plugin}``: each scraper's effective interval (s)
* ``adaptive.pressure{signal}``: the last pressure sample (fractions, bytes)
* ``adaptive.cpu_stretch``: the CPU governor's stretch factor
* ``records.folded{signal}``: points folded away by the downsampler
* ``anomaly.detected{metric}``: anomalies found
* ``predictor.failure_probability``: the last predicted P(export attempt fails)
* ``predictor.decisions{decision}``: verdicts since start (go, skip, explore, forced, warmup)
* ``predictor.brier``, ``predictor.skip_precision``, ``predictor.skip_recall``: its accuracy
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_agent.adaptive.modes import Mode
from edge_agent.runtime.telemetry import Counter, Registry

if TYPE_CHECKING:
    from edge_agent.adaptive.controller import AdaptiveController

Samples = Iterable[tuple[dict[str, str], float]]
_PRESSURE_SIGNALS = ("host_cpu", "agent_cpu", "memory_used", "rss", "buffer_fill", "battery_percent")


@dataclass(frozen=True)
class AdaptiveInstruments:
    registry: Registry
    transitions: Counter
    anomalies: Counter
    downsampled: Counter

    @classmethod
    def create(cls, registry: Registry) -> AdaptiveInstruments:
        return cls(
            registry,
            transitions=registry.counter(
                "adaptive.mode.transitions", "degradation mode changes", labels=("from", "to")
            ),
            anomalies=registry.counter(
                "anomaly.detected", "anomalies found in watched series", labels=("metric",)
            ),
            downsampled=registry.counter(
                "records.folded", "data points folded into aggregates while degraded", labels=("signal",)
            ),
        )

    def publish(self, controller: AdaptiveController) -> None:
        """Gauges read from the controller at collect time."""
        reg = self.registry

        def mode() -> Samples:
            return [({"mode": m.value}, float(m is controller.mode)) for m in Mode]

        def intervals() -> Samples:
            return [({"plugin": n}, p.pace.interval) for n, p in controller.pacers.items()]

        def pressure() -> Samples:
            sample = controller.sample
            values = ((s, getattr(sample, s)) for s in _PRESSURE_SIGNALS)
            return [({"signal": s}, float(v)) for s, v in values if v is not None]

        reg.gauge("adaptive.mode", "1 for the current degradation mode", labels=("mode",), callback=mode)
        reg.gauge(
            "adaptive.interval", "effective scrape interval", unit="s", labels=("plugin",), callback=intervals
        )
        reg.gauge("adaptive.pressure", "last pressure sample", labels=("signal",), callback=pressure)
        reg.gauge(
            "adaptive.cpu_stretch",
            "interval stretch from the agent CPU budget",
            callback=lambda: [({}, controller.policy.governor.stretch)],
        )
        self._publish_predictor(controller)

    def _publish_predictor(self, controller: AdaptiveController) -> None:
        reg = self.registry

        def decisions() -> Samples:
            return [({"decision": k}, float(v)) for k, v in sorted(controller.gate.decisions.items())]

        def optional(value: float | None) -> Samples:
            return [] if value is None else [({}, value)]

        reg.gauge(
            "predictor.failure_probability",
            "predicted probability that the next export fails",
            callback=lambda: optional(controller.gate.last_p),
        )
        reg.gauge(
            "predictor.decisions",
            "export attempt verdicts since start",
            labels=("decision",),
            callback=decisions,
        )
        reg.gauge(
            "predictor.brier",
            "Brier score of recent predictions (0 = perfect, 0.25 = coin)",
            callback=lambda: optional(controller.gate.scorecard.brier()),
        )
        reg.gauge(
            "predictor.skip_precision",
            "share of skip verdicts that would have failed",
            callback=lambda: optional(controller.gate.scorecard.skip_precision()),
        )
        reg.gauge(
            "predictor.skip_recall",
            "estimated share of failing attempts that were skipped",
            callback=lambda: optional(controller.gate.scorecard.skip_recall()),
        )
