"""A PluginRunner wired to a memory buffer, and a trivial scraper: shared by the supervisor tests."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import trio

from edge_agent import Fragment, PluginContext, Priority, Scraper
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.otlp import attributes
from edge_agent.runtime.clock import AgentClock
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.state import CborStateStore
from edge_agent.runtime.supervisor import PluginRunner, PluginStatus


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.instruments = AgentInstruments.create()
        self.buffer = MemoryBuffer(1 << 24, self.instruments.dropped)
        self.pipeline = Pipeline(self.buffer, self.instruments.pipeline)

    def runner(
        self,
        plugin: Any,
        name: str,
        interval: float = 10.0,
        jitter: float = 0.0,
        *,
        pacer: Any = None,
        seed: int = 0,
    ) -> PluginRunner:
        ctx = RuntimeContext(
            name=name,
            priority=Priority.NORMAL,
            pipeline=self.pipeline,
            state=CborStateStore(self.tmp_path / f"{name}.cbor"),
            clock=AgentClock(),
            resource=attributes.resource({"service.name": "t"}),
            scope=attributes.scope(name),
            start_time_ns=1,
        )
        status = PluginStatus(name=name, type=name, kind=plugin.kind)
        return PluginRunner(
            plugin,
            ctx,
            status,
            self.instruments.plugins,
            interval=interval,  # type: ignore[arg-type]
            jitter=jitter,  # type: ignore[arg-type]
            rng=random.Random(seed),
            pacer=pacer,
        )


class Ticker(Scraper[None]):
    """Records when it was scraped; emits one gauge."""

    name = "ticker"

    def __init__(self) -> None:
        super().__init__(None)
        self.times: list[float] = []

    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        self.times.append(trio.current_time())
        b = ctx.metrics()
        b.gauge("t", 1)
        return [b.build()]
