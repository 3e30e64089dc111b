"""The agent builds the exporter from its config and shows it in /status and /metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import trio

from edge_agent.admin.config import AdminConfig
from edge_agent.config.schema import AgentConfig, SelfTelemetryConfig
from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink
from edge_agent.tls.config import TlsClientConfig
from tests.agent_harness import agent_toml, load_text, memory_connector
from tests.export.harness import fast_config
from tests.export.test_exporter_tls import TlsUpstream
from tests.tlshelpers import make_pki, server_context


async def _get(port: int, path: str) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := await stream.receive_some():
            chunks.append(data)
    return b"".join(chunks).split(b"\r\n\r\n", 1)[1]


async def test_agent_exports_its_own_metrics_over_mtls(tmp_path: Path) -> None:
    """A configured agent ships self-telemetry over mTLS and reports TLS and endpoint health."""
    pki = make_pki(tmp_path / "pki")
    upstream = TlsUpstream(server_context(pki))
    files = pki.client_paths("device-1")
    async with trio.open_nursery() as nursery:
        await nursery.start(upstream.serve)
        tls = TlsClientConfig(ca_file=str(pki.ca_file), cert_file=str(files.cert), key_file=str(files.key))
        config = AgentConfig(
            exporter=fast_config(upstream.endpoint(), tls=tls),
            admin=AdminConfig(endpoint="127.0.0.1:0"),
            self_telemetry=SelfTelemetryConfig(interval=0.2),  # type: ignore[arg-type]
        )
        agent = Agent(config, PluginRegistry.discover([]), state_dir=tmp_path / "state", environ={})
        await nursery.start(agent.run)
        with trio.fail_after(10):
            await upstream.sink.wait_for(Signal.METRICS, 1)
        assert agent.admin_address is not None
        status = json.loads(await _get(agent.admin_address[1], "/status"))
        metrics = (await _get(agent.admin_address[1], "/metrics")).decode()
        nursery.cancel_scope.cancel()
    export = status["export"]
    assert export["tls"]["client_cert"]["subject_cn"] == "device-1"
    assert export["endpoints"][0]["url"] == upstream.endpoint()
    assert export["health"] == "ok"
    assert 'edge_agent_tls_cert_expiry{cert="client"}' in metrics
    assert "edge_agent_export_concurrency_limit" in metrics
    assert "edge_agent.tls.cert.expiry" in upstream.sink.metric_names


async def test_reload_to_unusable_tls_files_is_refused(tmp_path: Path, nursery: trio.Nursery) -> None:
    """A reload whose new exporter cannot load its key is refused up front; the old exporter keeps going."""
    pki = make_pki(tmp_path / "pki")
    files = pki.client_paths("device-1")
    os.chmod(files.key, 0o644)
    sink = OtlpSink()
    path, state = tmp_path / "agent.toml", tmp_path / "state"
    loaded = load_text(path, agent_toml(state, ""))
    agent = Agent(
        loaded.config,
        PluginRegistry.for_config(()),
        state_dir=state,
        connect=memory_connector(sink, nursery),
        environ={},
    )
    await nursery.start(agent.run)
    old = agent.exporter
    tls = (
        f'\n[exporter.tls]\nca_file = "{pki.ca_file}"\ncert_file = "{files.cert}"\nkey_file = "{files.key}"\n'
    )
    new = load_text(path, agent_toml(state, "", endpoint="https://localhost:4318") + tls)
    with pytest.raises(ConfigError, match="every user") as info:
        await agent.reconfigure(new)
    assert info.value.key == "exporter.tls.key_file"
    assert agent.exporter is old
    assert agent.config.exporter.endpoint == "http://localhost:4318"
    agent.request_stop()
