"""The agent's degradation mode end to end: offline detection, downsampling, recovery, every view of it."""

from __future__ import annotations

import socket
from pathlib import Path

import trio

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.runtime.summary import status_line
from edge_agent.testing import OtlpSink


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(port: int, state_dir: Path) -> LoadedConfig:
    sets = [
        f"exporter.endpoint=http://127.0.0.1:{port}",
        f"agent.state_dir={state_dir}",
        "admin.enabled=false",
        "self_telemetry.enabled=false",
        "plugins.hostmetrics.interval=200ms",
        "plugins.hostmetrics.priority=bulk",
        "plugins.hostmetrics.scrapers=['memory','load']",
        "exporter.retry_on_failure.initial_interval=100ms",
        "exporter.retry_on_failure.max_interval=300ms",
        "adaptive.downsample.window=1s",
        "agent.shutdown_grace=3s",
    ]
    return load_config(main_path=None, environ={}, cli_sets=sets, plugin_types=PluginRegistry.for_config)


def _gauge(agent: Agent, name: str) -> dict[str, float]:
    snap = next(s for s in agent.instruments.registry.collect() if s.name == name)
    return {next(iter(x.labels.values()), ""): x.value for x in snap.samples}


async def test_offline_mode_downsamples_and_recovers(tmp_path: Path) -> None:
    """With the upstream down the agent goes offline (health, STATUS line, /status, self-metric all
    say so), folds bulk metrics into 1 s aggregates, and once the upstream appears returns to normal
    and delivers them; every record is accounted for."""
    port = _free_port()
    agent = Agent(_config(port, tmp_path).config, PluginRegistry.for_config(()), state_dir=tmp_path)
    sink = OtlpSink()
    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.run)
            with trio.fail_after(10):
                while agent.adaptive.mode.value != "offline":
                    await trio.sleep(0.1)
            await trio.sleep(2.5)  # a couple of 1 s windows fold while offline
            health = agent.health()
            summary = agent.summary()
            status = agent.status()["adaptive"]
            mode_gauge = _gauge(agent, "adaptive.mode")
            await outer.start(sink.serve, "127.0.0.1", port)
            with trio.fail_after(15):
                while "system.memory.utilization.downsampled" not in sink.metric_names:
                    await sink.wait_for(Signal.METRICS, sink.records[Signal.METRICS] + 1)
                while agent.adaptive.mode.value != "normal":
                    await trio.sleep(0.1)
            agent.request_stop()
        outer.cancel_scope.cancel()
    assert health == (True, "live (degraded: offline)")
    assert summary.mode == "offline"
    assert status_line(summary, 0).startswith("running, offline: queue")
    assert status["mode"] == "offline"
    assert status["downsampling"]["cutoff"] == "bulk"
    assert status["plugins"]["hostmetrics"]["interval_s"] == 0.2  # offline keeps the resolution
    assert mode_gauge["offline"] == 1.0
    assert mode_gauge["normal"] == 0.0
    totals = agent.accounting()
    assert totals["downsampled"] > 0
    assert totals["collected"] == (
        totals["exported"] + totals["dropped"] + totals["queued"] + totals["held"] + totals["downsampled"]
    )
    transitions = {
        (s.labels["from"], s.labels["to"])
        for snap in agent.instruments.registry.collect()
        if snap.name == "adaptive.mode.transitions"
        for s in snap.samples
    }
    assert transitions >= {("normal", "offline"), ("offline", "normal")}
