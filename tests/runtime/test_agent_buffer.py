"""The agent runs on the disk buffer by default: nothing accepted is lost across a restart while
the upstream is down, per-plugin priority picks the stream, and /status shows the disk numbers."""

from __future__ import annotations

from pathlib import Path

import trio

from edge_agent.config.load import load_config
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink
from tests.buffer.helpers import poll_until

PLUGIN = '''
import trio
from edge_agent import NoConfig, Receiver


class Burst(Receiver[NoConfig]):
    """Emits 5 durable fragments of 10 log records once, then idles."""

    name = "burst"

    async def run(self, ctx, *, task_status):
        task_status.started()
        if not ctx.state.get("done"):
            for i in range(5):
                builder = ctx.logs()
                for j in range(10):
                    builder.record(f"record {i} {j}")
                await ctx.emit(builder.build(), durable=True)
            await ctx.state.put("done", True)
        await trio.sleep_forever()
'''


def _agent(tmp_path: Path, endpoint: str, *extra: str) -> Agent:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "burst.py").write_text(PLUGIN)
    settings = [
        f"agent.state_dir={tmp_path / 'state'}",
        f'agent.plugin_dirs=["{plugins}"]',
        f"exporter.endpoint={endpoint}",
        "exporter.retry_on_failure.initial_interval=0.1s",
        "exporter.retry_on_failure.max_interval=0.2s",
        "admin.enabled=false",
        "self_telemetry.enabled=false",
        "plugins.hostmetrics.enabled=false",
        "plugins.burst.type=burst",
        "plugins.burst.priority=bulk",
        "buffer.commit_interval=50ms",
        *extra,
    ]
    loaded = load_config(
        main_path=None, environ={}, cli_sets=settings, plugin_types=PluginRegistry.for_config
    )
    registry = PluginRegistry.for_config(loaded.config.agent.plugin_dirs)
    return Agent(loaded.config, registry, state_dir=tmp_path / "state")


def _buffer_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "state" / "buffer").glob("*.seg"))


async def test_data_accepted_while_upstream_is_down_survives_a_restart(tmp_path: Path) -> None:
    """Upstream refuses (503); the agent stops with 50 records on disk; the next run delivers them."""
    sink = OtlpSink(fail_with=503)
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        agent = _agent(tmp_path, sink.endpoint)
        await nursery.start(agent.run)
        with trio.fail_after(10):
            await poll_until(lambda: agent.status()["queue"]["records"]["logs"] >= 50)
        queue = agent.status()["queue"]
        assert (queue["kind"], queue["dir"]) == ("disk", str(tmp_path / "state" / "buffer"))
        assert queue["bytes"] > 0 and queue["max_bytes"] == 128 * 1024 * 1024
        assert all("-logs-bulk.seg" in name for name in _buffer_files(tmp_path)), (
            "priority = bulk from config"
        )
        with trio.fail_after(10):
            await poll_until(lambda: agent.export_status["upstream"] == "unreachable")
        agent.request_stop()
        with trio.fail_after(5):  # an unreachable upstream does not hold up shutdown
            await poll_until(lambda: agent.status()["pipeline"]["state"] == "stopped")
        assert sink.records[Signal.LOGS] == 0

        sink.fail_with = None
        agent = _agent(tmp_path, sink.endpoint)
        await nursery.start(agent.run)
        with trio.fail_after(10):
            await sink.wait_for(Signal.LOGS, 50)
        agent.request_stop()
        nursery.cancel_scope.cancel()
    assert sink.records[Signal.LOGS] == 50


async def test_memory_buffer_remains_selectable(tmp_path: Path) -> None:
    """buffer.kind = "memory" runs without a buffer directory (diskless devices)."""
    sink = OtlpSink()
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        agent = _agent(tmp_path, sink.endpoint, "buffer.kind=memory")
        await nursery.start(agent.run)
        with trio.fail_after(10):
            await sink.wait_for(Signal.LOGS, 50)
        assert agent.status()["queue"]["kind"] == "memory"
        assert not (tmp_path / "state" / "buffer").exists()
        nursery.cancel_scope.cancel()
