"""RuntimeContext.count: plugin events land in the agent's registry (admin /metrics and self-telemetry)."""

from __future__ import annotations

from pathlib import Path

from edge_agent import Priority
from edge_agent.admin.prometheus import render
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.runtime.clock import AgentClock
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.state import CborStateStore


def test_count_feeds_the_plugin_events_counter(tmp_path: Path) -> None:
    """ctx.count increments edge_agent.plugin.events{plugin, event}, visible in the Prometheus rendering."""
    instruments = AgentInstruments.create()
    pipeline = Pipeline(MemoryBuffer(1 << 20, instruments.dropped), instruments.pipeline)
    ctx = RuntimeContext(
        name="syslog-files",
        priority=Priority.NORMAL,
        pipeline=pipeline,
        state=CborStateStore(tmp_path / "s.cbor"),
        clock=AgentClock(),
        resource=b"",
        scope=b"",
        start_time_ns=1,
        events=instruments.plugins.events,
    )
    ctx.count("lines_truncated", 3)
    ctx.count("lines_truncated")
    ctx.count("invalid_utf8", 0)  # zero is a no-op, not a new series
    assert instruments.plugins.events.value(plugin="syslog-files", event="lines_truncated") == 4
    text = render(instruments.registry.collect())
    assert 'edge_agent_plugin_events_total{plugin="syslog-files",event="lines_truncated"} 4' in text
    assert "invalid_utf8" not in text
