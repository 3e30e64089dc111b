"""Exporter e2e: agent -> nginx (mTLS, ssl_verify_client on) -> rotel -> counting sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from edge_agent.otlp.fragment import Signal
from edge_agent.testing import OtlpSink
from edge_agent.tls.config import TlsClientConfig
from tests import peers
from tests.export.harness import Harness, fast_config, running_exporter, spans, wait_until
from tests.tlshelpers import make_pki
from tools import pkilib
from tools.mtlspeers import Nginx, Rotel
from tools.pkilib import DevPki

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Peers:
    pki: DevPki
    sink: OtlpSink
    rotel: Rotel
    nginx: Nginx

    def endpoint(self) -> str:
        return f"https://localhost:{self.nginx.port}"

    def tls(self, client: str | None = "device-1", **kw: object) -> TlsClientConfig:
        files = self.pki.client_paths(client) if client else None
        return TlsClientConfig(
            ca_file=str(self.pki.ca_file),
            cert_file=str(files.cert) if files else "",
            key_file=str(files.key) if files else "",
            **kw,  # type: ignore[arg-type]
        )


async def _start_peers(
    tmp_path: Path, server_names: tuple[str, ...] = pkilib.DEFAULT_SERVER_NAMES
) -> AsyncIterator[Peers]:
    nginx_bin, rotel_bin = peers.require("nginx"), peers.require("rotel")
    pki = make_pki(tmp_path / "pki")
    cert, key = pki.server_cert, pki.server_key
    if server_names != pkilib.DEFAULT_SERVER_NAMES:
        cert, key = pki.write_server(pkilib.make_server(pki.ca, server_names), "other")
    sink = OtlpSink()
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        assert sink.address is not None
        rotel = Rotel(rotel_bin, tmp_path / "rotel", sink.address[1])
        rotel.start()
        nginx = Nginx(nginx_bin, tmp_path / "nginx", rotel.port, pki.ca_file, cert, key)
        try:
            nginx.start()
            yield Peers(pki, sink, rotel, nginx)
        finally:
            nginx.stop()
            rotel.stop()
            nursery.cancel_scope.cancel()


@pytest.fixture
async def mtls(tmp_path: Path) -> AsyncIterator[Peers]:
    async for started in _start_peers(tmp_path):
        yield started


async def _flow(harness: Harness, rounds: int, *, first: int = 0, pause: float = 0.01) -> int:
    total = 0
    for i in range(first, first + rounds):
        total += harness.offer([spans(10, start=i * 10)])
        await trio.sleep(pause)
    return total


async def test_every_record_arrives(mtls: Peers) -> None:
    """Every span offered is counted at the sink behind nginx and rotel, none twice."""
    async with running_exporter(fast_config(mtls.endpoint(), tls=mtls.tls())) as harness:
        total = await _flow(harness, 200, pause=0)
        with trio.fail_after(30):
            await mtls.sink.wait_for(Signal.TRACES, total)
            await harness.wait_settled(total)
        await trio.sleep(0.5)  # anything extra (a duplicate) would arrive by now
    assert mtls.sink.records[Signal.TRACES] == total == harness.exported()
    assert 'client="CN=device-1,O=edge-agent dev PKI" verify=SUCCESS' in mtls.nginx.access_log()


@pytest.mark.parametrize("client", ["none", "other-ca", "expired"])
async def test_refused_client_keeps_its_data(mtls: Peers, tmp_path: Path, client: str) -> None:
    """Without an acceptable client cert nothing arrives, nothing is dropped, and the reason is shown."""
    if client == "none":
        tls = mtls.tls(client=None)
    elif client == "other-ca":
        other = DevPki.create(tmp_path / "other")
        files = other.add_client("intruder")
        tls = TlsClientConfig(
            ca_file=str(mtls.pki.ca_file), cert_file=str(files.cert), key_file=str(files.key)
        )
    else:
        files = mtls.pki.client_paths("stale")
        pkilib.expired(mtls.pki.ca, "stale").write(files.cert, files.key)
        tls = mtls.tls(client="stale")
    async with running_exporter(fast_config(mtls.endpoint(), tls=tls)) as harness:
        harness.offer([spans(10)])
        with trio.fail_after(10):
            await wait_until(lambda: harness.exporter.status()["upstream"] == "unreachable")
        endpoint = harness.exporter.status()["endpoints"][0]
        assert harness.dropped() == 0
    assert mtls.sink.records[Signal.TRACES] == 0
    assert endpoint["last_error_kind"] == "auth"
    assert "refused our client certificate" in endpoint["last_error"]
    assert harness.buffer.queued_records()["traces"] == 10


async def test_wrong_server_name_is_refused(tmp_path: Path) -> None:
    """nginx presenting a certificate for another name is refused before any data is sent."""
    async for started in _start_peers(tmp_path, server_names=("collector.example",)):
        async with running_exporter(fast_config(started.endpoint(), tls=started.tls())) as harness:
            harness.offer([spans(10)])
            with trio.fail_after(10):
                await wait_until(lambda: harness.exporter.status()["upstream"] == "unreachable")
            endpoint = harness.exporter.status()["endpoints"][0]
        assert endpoint["last_error_kind"] == "tls_hostname"
        assert "server_name_override" in endpoint["last_error"]
        assert started.sink.records[Signal.TRACES] == 0
        assert "ssl" not in started.nginx.access_log().lower()  # no request ever reached HTTP


async def test_client_cert_rotation_mid_stream(mtls: Peers) -> None:
    """Rotating the client cert files while data flows switches certificates without a restart or loss."""
    files = mtls.pki.client_paths("device-1")
    config = fast_config(mtls.endpoint(), tls=mtls.tls(reload_interval=0.1))
    async with running_exporter(config) as harness:
        total = await _flow(harness, 50)
        pkilib.make_client(mtls.pki.ca, "device-1-renewed").write(files.cert, files.key)
        total += await _flow(harness, 100, first=50)
        with trio.fail_after(30):
            await mtls.sink.wait_for(Signal.TRACES, total)
            await harness.wait_settled(total)
        assert harness.exporter.credentials is not None
        assert harness.exporter.credentials.generation == 2
    log = mtls.nginx.access_log()
    assert "CN=device-1," in log and "CN=device-1-renewed," in log
    assert log.rindex("CN=device-1,") < log.rindex("CN=device-1-renewed,")
    assert mtls.sink.records[Signal.TRACES] == total


async def test_collector_outage_loses_nothing(mtls: Peers) -> None:
    """rotel stopped and restarted while data flows: all accepted records arrive, duplicates bounded."""
    config = fast_config(mtls.endpoint(), tls=mtls.tls())
    async with running_exporter(config) as harness:
        total = await _flow(harness, 50)
        await trio.to_thread.run_sync(mtls.rotel.stop)
        total += await _flow(harness, 100, first=50)
        with trio.fail_after(10):
            await wait_until(lambda: harness.exporter.status()["endpoints"][0]["state"] != "closed")
        await trio.to_thread.run_sync(mtls.rotel.start)
        total += await _flow(harness, 50, first=150)
        with trio.fail_after(30):
            await mtls.sink.wait_for(Signal.TRACES, total)
            await harness.wait_settled(total)
        await trio.sleep(0.5)
        in_flight_bound = config.sending_queue.num_consumers * 10  # records per request here
    received = mtls.sink.records[Signal.TRACES]
    assert total <= received <= total + in_flight_bound  # at-least-once window: requests in flight
    assert harness.dropped() == 0
