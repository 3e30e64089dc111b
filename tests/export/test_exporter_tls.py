"""The exporter over mutual TLS against an in-process TLS upstream: delivery, refusal, rotation."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from edge_agent.errors import ConfigError
from edge_agent.httpserver import HttpServer
from edge_agent.otlp.fragment import Signal
from edge_agent.testing import OtlpSink
from edge_agent.tls.config import TlsClientConfig
from tests.export.harness import fast_config, running_exporter, spans, wait_until
from tests.tlshelpers import make_pki, serve_tls, server_context
from tools import pkilib
from tools.pkilib import DevPki


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return make_pki(tmp_path / "pki")


class TlsUpstream:
    """OtlpSink behind TLS that remembers the client certificate CN of every connection."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.sink = OtlpSink()
        self.context = context
        self.client_cns: list[str] = []
        self.port = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        server = HttpServer(self.sink.handle, self.sink.limits)

        async def handle(stream: trio.abc.Stream) -> None:
            assert isinstance(stream, trio.SSLStream)
            peer = stream.getpeercert() or {}
            cn = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
            self.client_cns.append(cn[0] if cn else "")
            try:
                await server.serve_stream(stream)
            except trio.BrokenResourceError:
                pass

        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(serve_tls, handle, self.context)
            task_status.started()

    def endpoint(self, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}"


@pytest.fixture
async def upstream(pki: DevPki) -> AsyncIterator[TlsUpstream]:
    server = TlsUpstream(server_context(pki))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        yield server
        nursery.cancel_scope.cancel()


def _tls(pki: DevPki, client: str | None = "device-1", **kw: object) -> TlsClientConfig:
    files = pki.client_paths(client) if client else None
    return TlsClientConfig(
        ca_file=str(pki.ca_file),
        cert_file=str(files.cert) if files else "",
        key_file=str(files.key) if files else "",
        **kw,  # type: ignore[arg-type]
    )


async def test_delivers_over_mutual_tls(pki: DevPki, upstream: TlsUpstream) -> None:
    """Data sent to an https endpoint arrives, with our client certificate presented."""
    config = fast_config(upstream.endpoint(), tls=_tls(pki))
    async with running_exporter(config) as harness:
        total = harness.offer([spans(10, start=i * 10) for i in range(20)])
        with trio.fail_after(10):
            await harness.wait_settled(total)
        status = harness.exporter.status()
    assert upstream.sink.records[Signal.TRACES] == total
    assert set(upstream.client_cns) == {"device-1"}
    assert status["tls"]["client_cert"]["subject_cn"] == "device-1"
    assert status["health"] == "ok"


async def test_without_client_cert_data_is_kept_and_error_is_clear(
    pki: DevPki, upstream: TlsUpstream
) -> None:
    """A refused agent keeps its data, reports the endpoint unreachable, and delivers once fixed."""
    config = fast_config(upstream.endpoint(), tls=_tls(pki, client=None))
    async with running_exporter(config) as harness:
        total = harness.offer([spans(5)])
        with trio.fail_after(10):
            await wait_until(lambda: harness.exporter.status()["upstream"] == "unreachable")
        assert upstream.sink.records[Signal.TRACES] == 0
        assert harness.dropped() == 0
        assert harness.buffer.in_flight_bytes() > 0  # held for retry, not dropped
    assert harness.buffer.queued_records()["traces"] == total  # released back at shutdown


async def test_wrong_server_name_is_refused(pki: DevPki, tmp_path: Path) -> None:
    """A server certificate for another name is refused: no data sent, reason in /status."""
    cert, key = pki.write_server(pkilib.make_server(pki.ca, ("gw.example",)), "wrong")
    server = TlsUpstream(server_context(pki, cert=cert, key=key))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        async with running_exporter(fast_config(server.endpoint(), tls=_tls(pki))) as harness:
            harness.offer([spans(5)])
            with trio.fail_after(10):
                await wait_until(lambda: harness.exporter.status()["upstream"] == "unreachable")
            endpoint = harness.exporter.status()["endpoints"][0]
        nursery.cancel_scope.cancel()
    assert endpoint["last_error_kind"] == "tls_hostname"
    assert "not valid for 'localhost'" in endpoint["last_error"]
    assert server.sink.records[Signal.TRACES] == 0


async def test_rotating_client_cert_mid_stream(pki: DevPki, upstream: TlsUpstream) -> None:
    """New cert files are used by new connections without a restart; data keeps flowing."""
    config = fast_config(upstream.endpoint(), tls=_tls(pki, reload_interval=0.05))
    files = pki.client_paths("device-1")
    async with running_exporter(config) as harness:
        total = 0
        for round_ in range(20):
            total += harness.offer([spans(5, start=round_ * 5)])
            if round_ == 10:
                pkilib.make_client(pki.ca, "device-1-rotated").write(files.cert, files.key)
            await trio.sleep(0.03)
        with trio.fail_after(10):
            await harness.wait_settled(total)
            await wait_until(lambda: "device-1-rotated" in upstream.client_cns)
        generation = harness.exporter.credentials.generation  # type: ignore[union-attr]
    assert upstream.sink.records[Signal.TRACES] == total
    assert upstream.client_cns[0] == "device-1"
    assert generation == 2


async def test_missing_key_file_fails_start_with_the_key_named(pki: DevPki) -> None:
    """A TLS setup that cannot load stops the exporter at start with a ConfigError naming the key."""
    from edge_agent.buffer.memory import MemoryBuffer
    from edge_agent.export.exporter import Exporter
    from edge_agent.export.status import ExportCounters
    from edge_agent.runtime.telemetry import Registry

    tls = TlsClientConfig(
        ca_file=str(pki.ca_file), cert_file=str(pki.ca_file), key_file="/nonexistent/key.pem"
    )
    counters = ExportCounters.create(Registry())
    exporter = Exporter(
        fast_config("https://localhost:1", tls=tls),
        MemoryBuffer(1 << 20, counters.dropped),
        counters,
        environ={},
    )
    with pytest.raises(ConfigError, match=r"not found: /nonexistent/key\.pem") as info:
        await exporter.run()
    assert info.value.key == "exporter.tls.key_file"
