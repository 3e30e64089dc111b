"""The OTLP receiver with real clients: OTel Python SDK apps and otelcol-contrib, counted at the far end.

Chain: SDK app (or otelcol-contrib filelog -> otlphttp) -> ``edge-agent run``
(otlp receiver) -> agent exporter -> rotel -> OtlpSink, which counts every
span, data point and log record that arrived.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from edge_agent import Signal
from edge_agent.testing import OtlpSink
from tests.e2e.plugin_peers import agent_argv, agent_config, free_port, process, rotel, tail, wait_for_port
from tests.peers import require

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SDK_APP = Path(__file__).with_name("sdk_app.py")


async def test_sdk_apps_reach_the_upstream_complete(tmp_path: Path) -> None:
    """Two concurrent SDK apps' spans, metric points and log records all arrive at rotel's upstream."""
    sink = OtlpSink(keep_messages=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        async with rotel(tmp_path, sink.endpoint) as rotel_port:
            port = free_port()
            config = agent_config(
                tmp_path, f"http://127.0.0.1:{rotel_port}", f'[plugins.otlp]\nendpoint = "127.0.0.1:{port}"\n'
            )
            log = tmp_path / "agent.log"
            async with process(agent_argv(config), log) as agent:
                await wait_for_port(port, agent, log)
                with trio.fail_after(120):
                    async with trio.open_nursery() as apps:
                        for n in range(2):
                            apps.start_soon(_run_app, tmp_path / f"app{n}.log", port, 3000, 1500, 20)
                    await sink.wait_for(Signal.TRACES, 6000)
                    await sink.wait_for(Signal.LOGS, 3000)
                    await sink.wait_for(Signal.METRICS, 80)
                await trio.sleep(0.5)  # anything extra (duplicates) would arrive now
                assert dict(sink.records) == {Signal.TRACES: 6000, Signal.LOGS: 3000, Signal.METRICS: 80}, (
                    tail(log)
                )
        nursery.cancel_scope.cancel()


async def _run_app(log: Path, port: int, spans: int, logs: int, series: int) -> None:
    argv = [sys.executable, str(SDK_APP), f"http://127.0.0.1:{port}", str(spans), str(logs), str(series)]
    async with process(argv, log) as proc:
        await proc.wait()
    output = tail(log)
    assert proc.returncode == 0, output
    assert "sent spans" in output and "Failed to export" not in output, output


async def test_otelcol_contrib_filelog_to_our_receiver(tmp_path: Path) -> None:
    """otelcol-contrib's filelog + otlphttp (gzip) exporter is a second client: every line arrives upstream."""
    binary = require("otelcol-contrib")
    lines = 5000
    logfile = tmp_path / "app.log"
    logfile.write_text("".join(f"2026-11-27T10:00:00Z INFO line {i} of the app log\n" for i in range(lines)))
    sink = OtlpSink(keep_messages=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        port = free_port()
        config = agent_config(tmp_path, sink.endpoint, f'[plugins.otlp]\nendpoint = "127.0.0.1:{port}"\n')
        log = tmp_path / "agent.log"
        async with process(agent_argv(config), log) as agent:
            await wait_for_port(port, agent, log)
            otel_config = tmp_path / "otelcol.yaml"
            otel_config.write_text(_otelcol_yaml(logfile, port, free_port()))
            otel_log = tmp_path / "otelcol.log"
            async with process([str(binary), "--config", str(otel_config)], otel_log):
                with trio.fail_after(60):
                    await sink.wait_for(Signal.LOGS, lines)
                await trio.sleep(0.5)
        assert sink.records[Signal.LOGS] == lines, tail(otel_log)
        nursery.cancel_scope.cancel()


def _otelcol_yaml(logfile: Path, port: int, metrics_port: int) -> str:
    return f"""
receivers:
  filelog:
    include: [{logfile}]
    start_at: beginning
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{port}
    compression: gzip
processors:
  batch: {{}}
service:
  telemetry:
    metrics:
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {metrics_port}}}}}}}
  pipelines:
    logs:
      receivers: [filelog]
      processors: [batch]
      exporters: [otlphttp]
"""
