"""Synthetic plugins the simulator runs through the real scheduler: gauges and log lines.

They are ordinary plugins written against the public plugin API, so every
record goes through the same runner, pipeline, downsampler, buffer and
exporter as real data. Each record carries ``sim.priority`` (the instance's
priority) so the simulated upstream can count delivery per priority, and
its collection timestamp (the agent's virtual wall clock), from which the
upstream computes freshness.

``sim_gauges`` values follow a slow sine with noise (seeded per instance);
``spike_at`` makes the value jump for one scrape at given times, to exercise
anomaly bursts. ``sim_logs`` emits log lines of a given size, the bulk data
(debug logs) that fills a buffer during a long outage.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent import Fragment, PluginContext, Scraper, Severity, setting
from edge_agent.runtime.discovery import ENTRY_POINT_GROUP, PluginRegistry
from edge_agent.runtime.entrypoints import EntryPoint

_WORDS = ("sensor", "read", "ok", "retry", "queue", "flush", "valve", "pump", "temp", "high", "low")


@dataclass(frozen=True)
class GaugeSettings:
    series: int = setting(10, help="gauge points per scrape (one per series)")
    pad_bytes: int = setting(16, help="length of a padding attribute, to size each point")
    base: float = setting(50.0, help="mean value")
    amplitude: float = setting(10.0, help="amplitude of the hourly sine")
    noise: float = setting(0.5, help="standard deviation of the noise")
    spike_at: tuple[float, ...] = setting((), help="seconds after start at which the value spikes")
    seed: int = setting(0, help="random seed of the noise")


class SimGauges(Scraper[GaugeSettings]):
    name = "sim_gauges"
    version = "1"
    description = "synthetic gauges for the simulator"
    config_class = GaugeSettings

    def __init__(self, config: GaugeSettings) -> None:
        super().__init__(config)
        self._rng = random.Random(config.seed)
        self._start: float | None = None
        self._spikes = sorted(config.spike_at)

    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        now = ctx.clock.monotonic()
        if self._start is None:
            self._start = now
        t = now - self._start
        spike = 0.0
        while self._spikes and self._spikes[0] <= t:
            self._spikes.pop(0)
            spike = 20.0 * max(1.0, self.config.amplitude)
        c = self.config
        pad = "x" * c.pad_bytes
        priority = ctx.priority.name.lower()
        points = []
        for i in range(c.series):
            wave = c.amplitude * math.sin(2 * math.pi * t / 3600.0 + i)
            attrs = {"sim.priority": priority, "sim.series": f"{ctx.name}.s{i}", "sim.pad": pad}
            points.append((attrs, c.base + wave + self._rng.gauss(0, c.noise) + spike))
        builder = ctx.metrics()
        builder.gauge("sim.value", points, unit="1")
        return [builder.build()]


@dataclass(frozen=True)
class LogSettings:
    lines: int = setting(10, help="log lines per scrape")
    line_bytes: int = setting(120, help="length of each line")
    seed: int = setting(0, help="random seed of the text")


class SimLogs(Scraper[LogSettings]):
    name = "sim_logs"
    version = "1"
    description = "synthetic log lines for the simulator"
    config_class = LogSettings

    def __init__(self, config: LogSettings) -> None:
        super().__init__(config)
        self._rng = random.Random(config.seed)
        self._seq = 0

    def _line(self) -> bytes:
        words: list[str] = []
        size = 0
        while size < self.config.line_bytes:
            rng = self._rng
            word = rng.choice(_WORDS) if rng.random() < 0.7 else f"{rng.getrandbits(32):08x}"
            words.append(word)
            size += len(word) + 1
        self._seq += 1
        return f"{self._seq} {' '.join(words)}"[: self.config.line_bytes].encode()

    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        builder = ctx.logs()
        lines = [self._line() for _ in range(self.config.lines)]
        builder.lines(
            lines,
            observed_time_ns=ctx.clock.time_ns(),
            severity=Severity.DEBUG,
            attributes={"sim.priority": ctx.priority.name.lower()},
        )
        return [builder.build()]


def simulation_registry() -> PluginRegistry:
    """A registry holding only the synthetic plugins (the self-telemetry scraper is built in)."""
    entry_points = [
        EntryPoint(name=cls.name, value=f"{__name__}:{cls.__name__}", group=ENTRY_POINT_GROUP)
        for cls in (SimGauges, SimLogs)
    ]
    return PluginRegistry(entry_points)
