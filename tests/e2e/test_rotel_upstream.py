"""e2e: the real agent process exports host metrics through a real rotel collector.

agent (subprocess) --OTLP/HTTP--> rotel (subprocess) --OTLP/HTTP--> counting sink (in test)
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
import trio

from edge_agent.otlp.fragment import Signal
from edge_agent.testing import OtlpSink
from tests.e2e.plugin_peers import agent_argv, free_port, process, rotel

pytestmark = pytest.mark.e2e

HOST_METRICS = {
    "system.cpu.time",
    "system.memory.usage",
    "system.filesystem.usage",
    "system.network.io",
    "system.uptime",
}


def write_config(tmp_path: Path, endpoint: str) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[agent]
state_dir = "{tmp_path / "state"}"
shutdown_grace = "3s"
[admin]
endpoint = "127.0.0.1:0"
[exporter]
endpoint = "{endpoint}"
[exporter.retry_on_failure]
initial_interval = "200ms"
max_interval = "1s"
[plugins.hostmetrics]
interval = "500ms"
""")
    return config


async def _wait_for_host_metrics(sink: OtlpSink) -> None:
    while not set(sink.metric_names) >= HOST_METRICS:
        await sink.wait_for(Signal.METRICS, sink.records[Signal.METRICS] + 1)


async def _terminate(proc: trio.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(20):
        return await proc.wait()


async def test_host_metrics_reach_sink_through_rotel(tmp_path: Path) -> None:
    """Host metrics arrive at the far end with the agent's resource attributes; SIGTERM exits 0."""
    sink = OtlpSink()
    log = tmp_path / "agent.log"
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        async with rotel(tmp_path, sink.endpoint) as port:
            config = write_config(tmp_path, f"http://127.0.0.1:{port}")
            async with process(agent_argv(config), log) as agent:
                with trio.fail_after(30):
                    await _wait_for_host_metrics(sink)
                assert await _terminate(agent) == 0
        nursery.cancel_scope.cancel()
    resources = [r for r in sink.resource_attributes if r.get("service.name") == "edge-agent"]
    assert resources
    assert resources[0]["host.name"] == socket.gethostname()
    assert resources[0]["os.type"] == "linux"
    assert resources[0]["service.instance.id"]
    assert "Traceback" not in log.read_text()


async def test_upstream_down_at_start_then_up(tmp_path: Path) -> None:
    """The agent starts with no upstream, says so once, and delivers once rotel appears, without a restart."""
    sink = OtlpSink()
    port = free_port()
    log = tmp_path / "agent.log"
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        config = write_config(tmp_path, f"http://127.0.0.1:{port}")
        async with process(agent_argv(config), log) as agent:
            await trio.sleep(3)
            assert sink.records[Signal.METRICS] == 0
            async with rotel(tmp_path, sink.endpoint, http_port=port):
                with trio.fail_after(60):
                    await _wait_for_host_metrics(sink)
                assert await _terminate(agent) == 0
        nursery.cancel_scope.cancel()
    output = log.read_text()
    assert output.count("is unreachable") == 1, output
    assert "reachable again" in output
    assert "Traceback" not in output
