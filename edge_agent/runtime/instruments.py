"""The agent's standard self-metrics, created in one place so names stay consistent."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.export.status import ExportCounters
from edge_agent.runtime.pipeline import PipelineCounters
from edge_agent.runtime.supervisor import PluginCounters
from edge_agent.runtime.telemetry import Counter, Registry


@dataclass(frozen=True)
class AgentInstruments:
    registry: Registry
    pipeline: PipelineCounters
    plugins: PluginCounters
    export: ExportCounters
    dropped: Counter
    buffer: BufferInstruments

    @classmethod
    def create(cls) -> AgentInstruments:
        reg = Registry()
        dropped = reg.counter(
            "records.dropped", "records dropped, by signal and reason", labels=("signal", "reason")
        )
        pipeline = PipelineCounters(
            collected=reg.counter(
                "records.collected", "records accepted from plugins", labels=("signal", "plugin")
            ),
            refused=reg.counter(
                "records.refused",
                "records a plugin produced but the buffer refused (backpressure)",
                labels=("signal", "plugin"),
            ),
        )
        plugins = PluginCounters(
            runs=reg.counter("plugin.runs", "plugin scrapes and failures", labels=("plugin", "outcome")),
            restarts=reg.counter("plugin.restarts", "plugin restarts after a failure", labels=("plugin",)),
            skipped=reg.counter("plugin.skipped_ticks", "scrape ticks skipped", labels=("plugin", "reason")),
            duration=reg.histogram("plugin.duration", "scrape duration", labels=("plugin",)),
            events=reg.counter(
                "plugin.events",
                "plugin-specific events such as malformed input or truncated lines",
                labels=("plugin", "event"),
            ),
        )
        export = ExportCounters.create(reg, dropped)
        buffer = BufferInstruments.create(reg, dropped)
        _process_gauges(reg)
        return cls(reg, pipeline, plugins, export, dropped, buffer)

    def register_queue(
        self, queued_bytes: Callable[[], int], queued_records: Callable[[], dict[str, int]]
    ) -> None:
        """Queue depth gauges, read from the buffer at collect time."""
        self.registry.gauge(
            "queue.size",
            "bytes of telemetry waiting to be exported",
            unit="By",
            callback=lambda: [({}, float(queued_bytes()))],
        )
        self.registry.gauge(
            "queue.records",
            "records waiting to be exported",
            labels=("signal",),
            callback=lambda: [({"signal": s}, float(n)) for s, n in queued_records().items()],
        )


def _process_gauges(reg: Registry) -> None:
    process = psutil.Process(os.getpid())

    def rss() -> list[tuple[dict[str, str], float]]:
        return [({}, float(process.memory_info().rss))]

    def cpu() -> list[tuple[dict[str, str], float]]:
        times = process.cpu_times()
        return [({}, times.user + times.system)]

    reg.gauge("process.memory.rss", "resident set size of the agent", unit="By", callback=rss)
    reg.gauge("process.cpu.time", "CPU seconds used by the agent (user + system)", unit="s", callback=cpu)
