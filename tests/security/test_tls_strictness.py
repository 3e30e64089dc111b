"""TLS strictness of the upstream connection: never below TLS 1.2, unverified only loudly."""

from __future__ import annotations

import logging
import signal
import ssl
import sys
import warnings
from pathlib import Path

import pytest
import trio

from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError, ExportTransportError
from edge_agent.export.config import ExporterConfig
from edge_agent.export.exporter import Exporter
from edge_agent.export.status import ExportCounters
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.runtime.telemetry import Registry
from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.connect import probe
from edge_agent.tls.material import load_client_material
from tests.tlshelpers import make_pki, serve_tls, server_context
from tools.pkilib import DevPki

WARNING = "exporter.tls.insecure_skip_verify is true: the server certificate is NOT verified"


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return make_pki(tmp_path / "pki")


def _legacy_server(pki: DevPki) -> ssl.SSLContext:
    context = server_context(pki, require_client=False)
    with warnings.catch_warnings():  # setting TLS 1.0/1.1 is deprecated: exactly the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # what it takes for OpenSSL 3 to speak TLS 1.1 at all
    return context


async def _legacy_client_version(port: int, pki: DevPki) -> str | None:
    """The version a deliberately permissive client negotiates (None: this OpenSSL cannot do TLS 1.1)."""
    client = ssl.create_default_context(cafile=str(pki.ca_file))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, client, server_hostname="localhost")
    try:
        await stream.do_handshake()
    except (trio.BrokenResourceError, ssl.SSLError, OSError):
        await trio.aclose_forcefully(stream)
        return None
    version = stream.version()
    await trio.aclose_forcefully(stream)
    return str(version)


async def _hold(stream: trio.abc.Stream) -> None:
    await trio.sleep(1)
    await trio.aclose_forcefully(stream)


async def test_a_tls11_only_server_is_refused(pki: DevPki) -> None:
    """A server that speaks at most TLS 1.1 (proven with a permissive client) is refused by the exporter."""
    material = load_client_material(TlsClientConfig(ca_file=str(pki.ca_file)), {})
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tls, _hold, _legacy_server(pki))
        legacy = await _legacy_client_version(port, pki)
        if legacy is None:
            nursery.cancel_scope.cancel()
            pytest.skip("this OpenSSL build cannot negotiate TLS 1.1 even when asked to")
        assert legacy == "TLSv1.1"
        with trio.fail_after(5), pytest.raises(ExportTransportError):
            await probe(material, "localhost", port)
        nursery.cancel_scope.cancel()


def test_tls_below_1_2_cannot_be_configured(tmp_path: Path) -> None:
    """exporter.tls.min_version accepts only 1.2 and 1.3."""
    path = tmp_path / "agent.toml"
    path.write_text('[exporter]\nendpoint = "https://collector:4318"\n[exporter.tls]\nmin_version = "1.1"\n')
    with pytest.raises(ConfigError, match=r"exporter\.tls\.min_version: must be one of '1\.2', '1\.3'"):
        load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)


def test_default_client_context_verifies_and_floors_at_tls12(pki: DevPki) -> None:
    """Without insecure_skip_verify the context requires a verified certificate and host name, TLS >= 1.2."""
    material = load_client_material(TlsClientConfig(ca_file=str(pki.ca_file)), {})
    context = material.context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


async def test_insecure_skip_verify_warns_at_every_start(caplog: pytest.LogCaptureFixture) -> None:
    """Each exporter start (process start or a reload that replaces it) logs the warning again."""
    config = ExporterConfig(
        endpoint="https://collector.example:4318", tls=TlsClientConfig(insecure_skip_verify=True)
    )
    with caplog.at_level(logging.WARNING, logger="edge_agent.exporter"):
        for _ in range(2):
            counters = ExportCounters.create(Registry())
            exporter = Exporter(config, MemoryBuffer(1 << 20, counters.dropped), counters, environ={})
            await exporter.prepare()
    assert caplog.text.count(WARNING) == 2


@pytest.mark.slow
async def test_real_agent_start_logs_the_insecure_warning(tmp_path: Path) -> None:
    """`edge-agent run` with insecure_skip_verify says so on stderr at start, as a WARNING line."""
    argv = [
        sys.executable,
        "-m",
        "edge_agent",
        "run",
        "--set",
        f"agent.state_dir={tmp_path / 'state'}",
        "--set",
        "admin.enabled=false",
        "--set",
        "agent.shutdown_grace=1s",
        "--set",
        "exporter.endpoint=https://127.0.0.1:9",
        "--set",
        "exporter.tls.insecure_skip_verify=true",
    ]
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = await trio.lowlevel.open_process(argv, stdout=out, stderr=out)
    try:
        with trio.fail_after(30):
            while "running" not in log.read_text(errors="replace"):
                assert proc.poll() is None, log.read_text()
                await trio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await proc.wait()
    lines = [line for line in log.read_text().splitlines() if WARNING in line]
    assert len(lines) == 1 and " WARNING " in lines[0]
