"""Running a real Exporter against a real buffer in tests: data, config, counters."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.export.config import (
    CircuitBreakerConfig,
    ExporterConfig,
    RetryConfig,
)
from edge_agent.export.exporter import Exporter
from edge_agent.export.status import ExportCounters
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import TracesBuilder
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.telemetry import Registry

RESOURCE = attributes.resource({"host.name": "test-device"})
SCOPE = attributes.scope("tests")


def spans(count: int, start: int = 0, *, name: str = "op", priority: Priority | None = None) -> Fragment:
    """A traces fragment with ``count`` spans; ``start`` keeps trace ids unique across fragments."""
    builder = TracesBuilder(RESOURCE, SCOPE, priority=priority)
    for i in range(count):
        builder.span(
            name,
            trace_id=(start + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            start_ns=1_700_000_000_000_000_000 + i,
            end_ns=1_700_000_000_000_000_100 + i,
        )
    return builder.build()


def fast_config(endpoint: str, **overrides: Any) -> ExporterConfig:
    """Short timeouts and intervals so failure paths run in well under a second of real time."""
    base = ExporterConfig(
        endpoint=endpoint,
        timeout=2.0,  # type: ignore[arg-type]
        connect_timeout=1.0,  # type: ignore[arg-type]
        retry_on_failure=RetryConfig(initial_interval=0.02, max_interval=0.1),  # type: ignore[arg-type]
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=3,
            open_interval=0.05,  # type: ignore[arg-type]
            max_open_interval=0.2,  # type: ignore[arg-type]
        ),
    )
    return dataclasses.replace(base, **overrides)


@dataclass
class Harness:
    exporter: Exporter
    buffer: MemoryBuffer
    counters: ExportCounters
    registry: Registry

    def offer(self, fragments: list[Fragment]) -> int:
        for fragment in fragments:
            self.buffer.offer(fragment)
        return sum(f.records for f in fragments)

    def dropped(self, reason: str | None = None) -> int:
        return int(
            sum(
                s.value
                for s in self.counters.dropped.samples()
                if reason is None or s.labels["reason"] == reason
            )
        )

    def exported(self) -> int:
        return int(self.counters.exported.total())

    async def wait_settled(self, total: int, *, poll: float = 0.01) -> None:
        """Wait until every offered record was exported or dropped (use under fail_after).

        Tests on a mock clock covering hours pass a coarser ``poll``.
        """
        await wait_until(lambda: self.exported() + self.dropped() >= total, poll=poll)


async def wait_until(predicate: Callable[[], bool], *, poll: float = 0.01) -> None:
    """Poll ``predicate`` (counters have no events to wait on); use under fail_after."""
    while not predicate():
        await trio.sleep(poll)


@asynccontextmanager
async def running_exporter(
    config: ExporterConfig, *, environ: Mapping[str, str] | None = None, max_memory: int = 64 << 20
) -> AsyncIterator[Harness]:
    registry = Registry()
    counters = ExportCounters.create(registry)
    buffer = MemoryBuffer(max_memory, counters.dropped)
    exporter = Exporter(config, buffer, counters, environ=environ or {})
    async with trio.open_nursery() as nursery:
        await nursery.start(exporter.run)
        yield Harness(exporter, buffer, counters, registry)
        nursery.cancel_scope.cancel()
