"""Keep-alive pool: reuse, idle expiry, retirement after rotation, connect/handshake deadlines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent.errors import ExportTransportError
from edge_agent.export.http import Endpoint
from edge_agent.export.pool import ConnectionPool
from edge_agent.testing import OtlpSink
from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.material import load_client_material
from edge_agent.tls.store import TlsCredentials
from tests.tlshelpers import make_pki


@pytest.fixture
async def sink() -> AsyncIterator[OtlpSink]:
    otlp = OtlpSink()
    async with trio.open_nursery() as nursery:
        await nursery.start(otlp.serve)
        yield otlp
        nursery.cancel_scope.cancel()


async def _post(pool: ConnectionPool, endpoint: Endpoint) -> int:
    conn = await pool.checkout(endpoint)
    response = await conn.request("POST", "/v1/metrics", host=endpoint.authority, headers=[], body=b"")
    await pool.checkin(endpoint, conn)
    return response.status


async def test_connections_are_reused_until_idle_too_long(
    sink: OtlpSink, autojump_clock: trio.testing.MockClock
) -> None:
    """A second request reuses the connection; after idle_conn_timeout a new one is opened."""
    pool = ConnectionPool(credentials=None, idle_timeout=60)
    endpoint = Endpoint.parse(sink.endpoint)
    assert await _post(pool, endpoint) == 200
    assert await _post(pool, endpoint) == 200
    assert (pool.stats.opened, pool.stats.reused) == (1, 1)
    await trio.sleep(61)
    assert await _post(pool, endpoint) == 200
    assert (pool.stats.opened, pool.stats.retired_idle) == (2, 1)
    await trio.sleep(61)
    await pool.reap()
    assert pool.idle_count() == 0
    await pool.aclose()


async def test_rotation_retires_idle_connections(sink: OtlpSink, tmp_path: Path) -> None:
    """After a credentials swap, idle connections of the old generation are not reused."""
    pki = make_pki(tmp_path / "pki")
    material = load_client_material(TlsClientConfig(ca_file=str(pki.ca_file)), {})
    creds = TlsCredentials(material, environ={})
    pool = ConnectionPool(credentials=creds)
    endpoint = Endpoint.parse(sink.endpoint)  # plain http: generations still apply
    await _post(pool, endpoint)
    creds.swap(material)
    await _post(pool, endpoint)
    assert (pool.stats.opened, pool.stats.reused, pool.stats.retired_rotated) == (2, 0, 1)
    await pool.aclose()


async def test_connect_deadline(autojump_clock: trio.testing.MockClock) -> None:
    """A connect that never completes (blackholed link) fails after connect_timeout, kind timeout."""

    async def blackhole(endpoint: Endpoint) -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    pool = ConnectionPool(credentials=None, connect=blackhole, connect_timeout=7)
    started = trio.current_time()
    with pytest.raises(ExportTransportError, match=r"no answer to the TCP connect within 7s") as info:
        await pool.checkout(Endpoint.parse("http://127.0.0.1:9"))
    assert info.value.kind == "timeout"
    assert trio.current_time() - started == pytest.approx(7)
    assert pool.stats.open_failures == 1


async def test_handshake_deadline(tmp_path: Path) -> None:
    """A server that accepts TCP but never speaks TLS fails after handshake_timeout."""
    pki = make_pki(tmp_path / "pki")
    creds = TlsCredentials(load_client_material(TlsClientConfig(ca_file=str(pki.ca_file)), {}), environ={})

    async def silent(stream: trio.abc.Stream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, silent, 0)
        port = listeners[0].socket.getsockname()[1]
        pool = ConnectionPool(credentials=creds, handshake_timeout=0.2)
        with pytest.raises(ExportTransportError, match="TLS handshake did not finish") as info:
            await pool.checkout(Endpoint.parse(f"https://localhost:{port}"))
        assert info.value.kind == "timeout"
        nursery.cancel_scope.cancel()


async def test_connection_closed_by_the_server_while_idle_is_not_reused() -> None:
    """An idle connection the server has closed is retired before use: no request is wasted on it."""
    from tests.export.faulty import FaultyUpstream

    faulty = FaultyUpstream(script=["ok_close", "ok"])
    async with trio.open_nursery() as nursery:
        await nursery.start(faulty.serve)
        pool = ConnectionPool(credentials=None)
        endpoint = Endpoint.parse(faulty.endpoint)
        assert await _post(pool, endpoint) == 200
        await trio.sleep(0.2)
        assert await _post(pool, endpoint) == 200
        assert (pool.stats.opened, pool.stats.reused, pool.stats.retired_idle) == (2, 0, 1)
        assert len(faulty.body_sizes) == 2
        await pool.aclose()
        nursery.cancel_scope.cancel()
