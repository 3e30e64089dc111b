"""The agent's own metrics, exported upstream as OTLP under ``edge_agent.*``.

Runs as an internal scraper (supervised like any plugin) at priority
``critical``: when the buffer must shed data, the numbers that explain the
shedding are the last to go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from edge_agent.otlp.builders import HistogramPoint, MetricsBuilder, Temporality
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.plugin_api import PluginContext, Scraper
from edge_agent.runtime.telemetry import MetricSnapshot, Registry


def add_snapshots(builder: MetricsBuilder, snapshots: Iterable[MetricSnapshot]) -> None:
    """Append ``snapshots`` to ``builder`` as cumulative OTLP metrics."""
    for snap in snapshots:
        name = f"edge_agent.{snap.name}"
        if not snap.samples:
            continue
        if snap.kind == "counter":
            points = [(s.labels, _num(s.value)) for s in snap.samples]
            builder.sum(name, points, unit=snap.unit, description=snap.description)
        elif snap.kind == "gauge":
            points = [(s.labels, _num(s.value)) for s in snap.samples]
            builder.gauge(name, points, unit=snap.unit, description=snap.description)
        else:
            hist = [
                HistogramPoint(
                    count=s.count,
                    sum=s.value,
                    bounds=s.bounds,
                    bucket_counts=s.bucket_counts,
                    attributes=s.labels,
                )
                for s in snap.samples
            ]
            builder.histogram(
                name, hist, unit=snap.unit, description=snap.description, temporality=Temporality.CUMULATIVE
            )


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class _NoSettings:
    pass


class SelfTelemetry(Scraper[_NoSettings]):
    """Internal scraper; constructed by the agent, not discovered."""

    name = "self_telemetry"
    version = "1"
    description = "the agent's own metrics"
    default_priority: ClassVar[Priority] = Priority.CRITICAL

    def __init__(self, registry: Registry) -> None:
        super().__init__(_NoSettings())
        self._registry = registry

    async def scrape(self, ctx: PluginContext) -> list[Fragment]:
        builder = ctx.metrics()
        add_snapshots(builder, self._registry.collect())
        return [builder.build()]
