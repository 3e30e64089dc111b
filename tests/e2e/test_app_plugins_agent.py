"""All application plugins in one real ``edge-agent run`` subprocess, counted at a real OTLP sink.

filelog (with a SIGKILL and a rotation while the agent is down), statsd over
UDP, prometheus scraping prometheus-client's exposition server, and exec,
configured through the agent's TOML config as an operator would.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest
import trio
from prometheus_client import CollectorRegistry, Counter, start_http_server

from edge_agent import Signal
from edge_agent.testing import OtlpSink
from tests.e2e.plugin_peers import agent_argv, agent_config, free_port, process, tail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _append(path: Path, first: int, count: int) -> None:
    with path.open("a") as f:
        f.write("".join(f"app line {i}\n" for i in range(first, first + count)))


def _bodies(sink: OtlpSink) -> list[str]:
    return [
        r.body.string_value
        for received in sink.requests
        if received.signal is Signal.LOGS
        for rl in received.message.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
    ]


def _metric_names(sink: OtlpSink) -> set[str]:
    return set(sink.metric_names)


async def _wait_logs(sink: OtlpSink, n: int, log: Path) -> None:
    with trio.fail_after(30):
        while len(_bodies(sink)) < n:
            await trio.sleep(0.05)
    await trio.sleep(0.3)
    assert len(_bodies(sink)) == n, tail(log)


async def test_plugins_through_a_real_agent(tmp_path: Path) -> None:
    """Logs survive SIGKILL + rotation exactly once; statsd, prometheus and exec metrics arrive upstream."""
    logs_dir = tmp_path / "logs"
    logs_dir.mkdir()
    app_log = logs_dir / "app.log"
    _append(app_log, 0, 500)
    registry = CollectorRegistry()
    Counter("widgets", "Widgets made", registry=registry).inc(7)
    prom_port = free_port()
    server, thread = start_http_server(prom_port, addr="127.0.0.1", registry=registry)
    statsd_port = free_port()
    plugins = f"""
[plugins.filelog]
include = ["{logs_dir}/app.log*"]
start_at = "beginning"
poll_interval = "50ms"

[plugins.statsd]
endpoint = "127.0.0.1:{statsd_port}"
flush_interval = "200ms"

[plugins.prometheus]
targets = ["http://127.0.0.1:{prom_port}/metrics"]
interval = "500ms"
scrape_timeout = "400ms"

[plugins.exec]
command = ["{sys.executable}", "-c", "print('probe_ok 1')"]
interval = "500ms"
"""
    sink = OtlpSink()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(sink.serve)
            config = agent_config(tmp_path, sink.endpoint, plugins)
            log = tmp_path / "agent.log"
            async with process(agent_argv(config), log) as agent:
                await _wait_logs(sink, 500, log)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.sendto(b"orders:3|c\ngarbage line\nqueue:5|g|#q:high", ("127.0.0.1", statsd_port))
                wanted = {"orders", "queue", "widgets", "up", "probe_ok"}
                with trio.move_on_after(30):
                    while not wanted <= _metric_names(sink):
                        await trio.sleep(0.1)
                assert wanted <= _metric_names(sink), (sorted(_metric_names(sink)), tail(log))
                await trio.sleep(0.5)  # let the checkpoint of the last batch land
                os.kill(agent.pid, signal.SIGKILL)
                await agent.wait()
            # while the agent is down: more lines, then a rename rotation and a new file
            _append(app_log, 500, 100)
            os.rename(app_log, logs_dir / "app.log.1")
            _append(app_log, 600, 50)
            async with process(agent_argv(config), tmp_path / "agent2.log"):
                await _wait_logs(sink, 650, tmp_path / "agent2.log")
            nursery.cancel_scope.cancel()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    bodies = _bodies(sink)
    assert sorted(bodies, key=lambda b: int(b.rsplit(" ", 1)[1])) == [f"app line {i}" for i in range(650)]
