"""The assembled agent, in-process, against a real OTLP/HTTP sink on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import trio

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink

EXPECTED_METRICS = {
    "system.cpu.time",
    "system.cpu.utilization",
    "system.cpu.load_average.1m",
    "system.memory.usage",
    "system.memory.utilization",
    "system.paging.usage",
    "system.disk.io",
    "system.filesystem.usage",
    "system.network.io",
    "system.network.errors",
    "system.network.dropped",
    "system.uptime",
}


def _config(endpoint: str, state_dir: Path, *extra: str) -> LoadedConfig:
    sets = [
        f"exporter.endpoint={endpoint}",
        f"agent.state_dir={state_dir}",
        "admin.endpoint=127.0.0.1:0",
        "plugins.hostmetrics.interval=200ms",
        "exporter.retry_on_failure.initial_interval=100ms",
        "exporter.retry_on_failure.max_interval=300ms",
        "agent.shutdown_grace=2s",
        *extra,
    ]
    return load_config(main_path=None, environ={}, cli_sets=sets, plugin_types=PluginRegistry.for_config)


def _agent(loaded: LoadedConfig, state_dir: Path) -> Agent:
    return Agent(loaded.config, PluginRegistry.for_config(()), state_dir=state_dir)


async def _get(address: tuple[str, int], path: str) -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream(*address)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_host_metrics_arrive_with_resource_attributes(tmp_path: Path) -> None:
    """Host metrics reach the upstream with semantic-convention names and the agent's resource."""
    sink = OtlpSink()
    async with trio.open_nursery() as outer:
        await outer.start(sink.serve)
        agent = _agent(_config(sink.endpoint, tmp_path, "self_telemetry.interval=300ms"), tmp_path)
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            with trio.fail_after(20):
                while not (
                    set(sink.metric_names) >= EXPECTED_METRICS
                    and "edge_agent.records.exported" in sink.metric_names
                ):
                    await sink.wait_for(Signal.METRICS, sink.records[Signal.METRICS] + 1)
            assert agent.admin_address is not None
            status, body = await _get(agent.admin_address, "/status")
            ready, _ = await _get(agent.admin_address, "/readyz")
            metrics_status, metrics_text = await _get(agent.admin_address, "/metrics")
            agent.request_stop()
        outer.cancel_scope.cancel()
    resource = sink.resource_attributes[0]
    assert resource["service.name"] == "edge-agent"
    assert resource["host.name"] == socket.gethostname()
    assert resource["os.type"] == "linux"
    assert resource["host.arch"] in {"amd64", "arm64", "arm32"}
    assert resource["os.description"]
    assert resource["service.instance.id"] == agent.device_id
    assert (status, ready, metrics_status) == (200, 200, 200)
    doc = json.loads(body)
    assert doc["pipeline"]["state"] == "running"
    assert doc["export"]["upstream"] == "reachable"
    assert {p["name"] for p in doc["plugins"]} == {"hostmetrics", "self_telemetry"}
    assert b'edge_agent_records_exported_total{signal="metrics"}' in metrics_text
    assert b"edge_agent_queue_size_bytes " in metrics_text
    assert b'edge_agent_queue_records{signal="metrics"}' in metrics_text


async def test_upstream_down_at_start_then_up(tmp_path: Path) -> None:
    """With nothing listening at first the agent keeps collecting; once the upstream appears data flows."""
    with socket.socket() as s:  # reserve a free port, then release it so nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = _agent(_config(f"http://127.0.0.1:{port}", tmp_path), tmp_path)
    sink = OtlpSink()
    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.run)
            await trio.sleep(1.5)
            assert agent.exporter.status()["upstream"] == "unreachable"
            collected_while_down = agent.instruments.pipeline.collected.value(
                signal="metrics", plugin="hostmetrics"
            )
            assert collected_while_down > 0
            await outer.start(sink.serve, "127.0.0.1", port)
            with trio.fail_after(10):
                await sink.wait_for(Signal.METRICS, int(collected_while_down))
            assert agent.exporter.status()["upstream"] == "reachable"
            agent.request_stop()
        outer.cancel_scope.cancel()


async def test_device_id_is_stable_across_restarts(tmp_path: Path) -> None:
    """service.instance.id is generated once and reused by the next start."""
    ids = []
    for _ in range(2):
        agent = _agent(_config("http://127.0.0.1:9", tmp_path, "agent.shutdown_grace=0s"), tmp_path)
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            ids.append(agent.device_id)
            agent.request_stop()
    assert ids[0] == ids[1]
    assert len(ids[0]) == 36
