"""A test plugin the agent's own tests load from a plugin directory (not shipped).

``seqlogs`` emits numbered log records (attributes ``instance``, ``seq``,
``tag``) so a test can count exactly what arrived upstream, spot gaps and
duplicates, and tell instances apart. Switches make real failure modes:
a slow setup, a failing setup, a scrape that blocks its worker thread
while a file exists (a wedged scheduler), and scrapes that start failing
after a while (a config that breaks only once it runs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent import BlockingScraper, Fragment, PluginContext, Scraper, setting


@dataclass(frozen=True)
class SeqLogsConfig:
    records: int = setting(5, help="log records per scrape")
    setup_delay: float = setting(0.0, help="seconds setup blocks its worker thread")
    setup_marker: str = setting("", help="file written when setup finishes")
    fail_setup: bool = setting(False, help="setup raises")
    wedge_file: str = setting("", help="while this file exists, scrape blocks its worker thread")
    tag: str = setting("", help="copied into every record's tag attribute")
    fail_after: int = setting(0, help="every scrape after this many successful ones raises (0 = never)")


class SeqLogs(BlockingScraper[SeqLogsConfig]):
    name = "seqlogs"
    version = "1"
    config_class = SeqLogsConfig
    default_interval = 0.1

    def __init__(self, config: SeqLogsConfig) -> None:
        super().__init__(config)
        self.seq = 0

    def setup(self, ctx: PluginContext) -> None:
        if self.config.fail_setup:
            raise RuntimeError("told to fail in setup")
        time.sleep(self.config.setup_delay)
        if self.config.setup_marker:
            Path(self.config.setup_marker).write_text("set up\n")

    def scrape(self, ctx: PluginContext) -> list[Fragment]:
        wedge = Path(self.config.wedge_file) if self.config.wedge_file else None
        while wedge is not None and wedge.exists():
            time.sleep(0.05)
        builder = ctx.logs()
        for _ in range(self.config.records):
            attrs = {"instance": ctx.name, "seq": self.seq, "tag": self.config.tag}
            builder.record(f"{ctx.name} #{self.seq}", attributes=attrs)
            self.seq += 1
        return [builder.build()]


class AsyncSeqLogs(Scraper[SeqLogsConfig]):
    """The same records from an async scraper (no worker threads: plays well with MockClock)."""

    name = "aseqlogs"
    version = "1"
    config_class = SeqLogsConfig
    default_interval = 1.0

    def __init__(self, config: SeqLogsConfig) -> None:
        if config.records < 0:
            raise ValueError(f"records must not be negative, got {config.records}")
        super().__init__(config)
        self.seq = 0
        self.scrapes = 0

    async def setup(self, ctx: PluginContext) -> None:
        if self.config.fail_setup:
            raise RuntimeError("told to fail in setup")

    async def scrape(self, ctx: PluginContext) -> list[Fragment]:
        self.scrapes += 1
        if self.config.fail_after and self.scrapes > self.config.fail_after:
            raise RuntimeError(f"told to fail after {self.config.fail_after} scrapes")
        builder = ctx.logs()
        for _ in range(self.config.records):
            attrs = {"instance": ctx.name, "seq": self.seq, "tag": self.config.tag}
            builder.record(f"{ctx.name} #{self.seq}", attributes=attrs)
            self.seq += 1
        return [builder.build()]
