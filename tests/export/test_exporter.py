"""The exporter shell: endpoints, adaptive concurrency, bandwidth, outages, headers, shutdown."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent.export.config import (
    AdaptiveConcurrencyConfig,
    BandwidthConfig,
    BatchConfig,
    CircuitBreakerConfig,
    SendingQueueConfig,
)
from edge_agent.httpserver import Reply, Request
from edge_agent.otlp.fragment import Priority, Signal
from edge_agent.testing import OtlpSink
from tests.export.faulty import FaultyUpstream
from tests.export.harness import fast_config, running_exporter, spans, wait_until


@pytest.fixture
async def sink() -> AsyncIterator[OtlpSink]:
    otlp = OtlpSink()
    async with trio.open_nursery() as nursery:
        await nursery.start(otlp.serve)
        yield otlp
        nursery.cancel_scope.cancel()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_everything_offered_arrives_once(sink: OtlpSink) -> None:
    """Every record offered to the buffer is counted once at the far end, and acked."""
    async with running_exporter(fast_config(sink.endpoint)) as harness:
        total = harness.offer([spans(7, start=i * 7) for i in range(50)])
        with trio.fail_after(10):
            await sink.wait_for(Signal.TRACES, total)
            await harness.wait_settled(total)
        assert sink.records[Signal.TRACES] == total == harness.exported()
        assert harness.buffer.queued_bytes() == harness.buffer.in_flight_bytes() == 0
        assert all(r.headers["content-encoding"] == "gzip" for r in sink.requests)


async def test_failover_to_the_next_endpoint_and_back(sink: OtlpSink) -> None:
    """With the primary down, data flows to the secondary; once the primary is up it wins back traffic."""
    port = _free_port()
    primary = OtlpSink()
    config = fast_config(f"http://127.0.0.1:{port}", additional_endpoints=(sink.endpoint,))
    async with running_exporter(config) as harness:
        harness.offer([spans(5)])
        with trio.fail_after(5):
            await harness.wait_settled(5)
        assert sink.records[Signal.TRACES] == 5
        status = harness.exporter.status()
        assert status["endpoints"][0]["last_error_kind"] == "refused"
        assert status["upstream"] == "reachable"
        async with trio.open_nursery() as nursery:
            await nursery.start(primary.serve, "127.0.0.1", port)
            with trio.fail_after(5):
                while not primary.records[Signal.TRACES]:
                    harness.offer([spans(1, start=100)])
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        assert harness.exporter.status()["endpoints"][0]["state"] == "closed"


async def test_round_robin_spreads_requests() -> None:
    """round_robin sends to every healthy endpoint in turn."""
    sinks = [OtlpSink(), OtlpSink()]
    async with trio.open_nursery() as nursery:
        for s in sinks:
            await nursery.start(s.serve)
        config = fast_config(
            sinks[0].endpoint,
            additional_endpoints=(sinks[1].endpoint,),
            balancing="round_robin",
            batch=BatchConfig(max_bytes=1),  # type: ignore[arg-type]
        )
        async with running_exporter(config) as harness:
            harness.offer([spans(1, start=i) for i in range(20)])
            with trio.fail_after(5):
                await harness.wait_settled(20)
        assert sinks[0].records[Signal.TRACES] + sinks[1].records[Signal.TRACES] == 20
        assert min(len(s.requests) for s in sinks) >= 5
        nursery.cancel_scope.cancel()


async def test_adaptive_concurrency_grows_then_backs_off() -> None:
    """A slow but parallel upstream lets concurrency grow; 503s push it back down to 1."""
    in_flight = peak = 0
    overloaded = False
    sink = OtlpSink()

    async def slow(request: Request) -> Reply:
        nonlocal in_flight, peak
        if overloaded:
            return Reply.text(503, "busy\n")
        in_flight += 1
        peak = max(peak, in_flight)
        await trio.sleep(0.02)
        in_flight -= 1
        return await sink.handle(request)

    from edge_agent.httpserver import HttpServer

    async with trio.open_nursery() as nursery:
        address = await nursery.start(HttpServer(slow).serve_tcp, "127.0.0.1", 0)
        config = fast_config(
            f"http://127.0.0.1:{address[1]}",
            batch=BatchConfig(max_bytes=1),  # type: ignore[arg-type]
            sending_queue=SendingQueueConfig(num_consumers=6),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=1000),
        )
        async with running_exporter(config) as harness:
            total = harness.offer([spans(1, start=i) for i in range(300)])
            with trio.fail_after(20):
                await harness.wait_settled(total)
            assert harness.exporter.limit() > 2
            assert peak > 2
            overloaded = True
            harness.offer([spans(1, start=1000 + i) for i in range(20)])
            with trio.fail_after(10):
                await wait_until(lambda: harness.exporter.limit() == 1)
            overloaded = False
            with trio.fail_after(10):
                await harness.wait_settled(total + 20)
        nursery.cancel_scope.cancel()


async def test_fixed_concurrency_when_adaptive_is_off(sink: OtlpSink) -> None:
    """adaptive_concurrency.enabled = false uses num_consumers from the start."""
    config = fast_config(
        sink.endpoint,
        sending_queue=SendingQueueConfig(num_consumers=3),
        adaptive_concurrency=AdaptiveConcurrencyConfig(enabled=False),
    )
    async with running_exporter(config) as harness:
        assert harness.exporter.limit() == 3


async def test_bandwidth_cap_paces_bytes_on_the_wire(
    sink: OtlpSink, autojump_clock: trio.testing.MockClock
) -> None:
    """At 2 KB/s, ~20 KB of compressed requests take ~10 s of (virtual) time; bytes are charged."""
    config = fast_config(
        sink.endpoint,
        batch=BatchConfig(max_bytes=1),  # type: ignore[arg-type]
        bandwidth=BandwidthConfig(max_bytes_per_second=2000, burst_bytes=2000),  # type: ignore[arg-type]
    )
    async with running_exporter(config) as harness:
        started = trio.current_time()
        total = harness.offer([spans(20, start=i * 20) for i in range(40)])
        with trio.fail_after(3600):
            await harness.wait_settled(total, poll=0.1)
        elapsed = trio.current_time() - started
        attempted = harness.counters.attempted_bytes.total()
        assert sink.records[Signal.TRACES] == total
        assert (attempted - 2000) / 2000 - 1 <= elapsed <= attempted / 2000 + 1


async def test_daily_budget_holds_data_until_the_next_window(
    sink: OtlpSink, autojump_clock: trio.testing.MockClock
) -> None:
    """Past max_bytes_per_day nothing is sent until 24 h after the window began; then the rest goes."""
    config = fast_config(
        sink.endpoint,
        batch=BatchConfig(max_bytes=1),  # type: ignore[arg-type]
        bandwidth=BandwidthConfig(max_bytes_per_day=1500),  # type: ignore[arg-type]
    )
    async with running_exporter(config) as harness:
        started = trio.current_time()
        total = harness.offer([spans(20, start=i * 20) for i in range(6)])
        await trio.sleep(3600)
        first_day = sink.records[Signal.TRACES]
        assert 0 < first_day < total
        assert harness.exporter.status()["health"] == "degraded"
        with trio.fail_after(7 * 86400):
            await harness.wait_settled(total, poll=60)
        assert trio.current_time() - started >= 86400


async def test_priority_goes_first_within_the_cap(
    sink: OtlpSink, autojump_clock: trio.testing.MockClock
) -> None:
    """While the cap holds back a bulk backlog, critical data offered later is sent before it."""
    config = fast_config(
        sink.endpoint,
        batch=BatchConfig(max_bytes=1),  # type: ignore[arg-type]
        bandwidth=BandwidthConfig(max_bytes_per_second=500, burst_bytes=500),  # type: ignore[arg-type]
        # one request at a time, so "what goes next" is exactly one decision
        sending_queue=SendingQueueConfig(num_consumers=1),
    )
    async with running_exporter(config) as harness:
        harness.offer([spans(5, start=i * 5, name="bulk", priority=Priority.BULK) for i in range(40)])
        await trio.sleep(5)
        sent_before = len(sink.requests)
        harness.offer([spans(5, start=1000, name="critical", priority=Priority.CRITICAL)])
        with trio.fail_after(3600):
            await harness.wait_settled(205, poll=0.1)
    order = [r.message.resource_spans[0].scope_spans[0].spans[0].name for r in sink.requests]
    assert 0 < sent_before < 30  # the cap really held the backlog back
    # at most the batch already taken for the next slot goes before it
    assert order.index("critical") <= sent_before + 1
    assert order[-1] == "bulk"


async def test_offline_hour_costs_few_probes_then_delivers(autojump_clock: trio.testing.MockClock) -> None:
    """An hour with the upstream refusing connections costs ~1 probe/min; afterwards everything arrives."""
    port = _free_port()
    config = fast_config(
        f"http://127.0.0.1:{port}",
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3, open_interval=5, max_open_interval=60),  # type: ignore[arg-type]
        batch=BatchConfig(max_bytes=1),  # type: ignore[arg-type]
    )
    sink = OtlpSink()
    async with running_exporter(config) as harness:
        total = 0
        for minute in range(60):
            total += harness.offer([spans(10, start=minute * 10)])
            await trio.sleep(60)
        attempts = harness.exporter.pool.stats.open_failures
        assert 55 <= attempts <= 75
        assert harness.exporter.status()["upstream"] == "unreachable"
        assert harness.exporter.status()["health"] == "failing"
        async with trio.open_nursery() as nursery:
            await nursery.start(sink.serve, "127.0.0.1", port)
            with trio.fail_after(600):
                await sink.wait_for(Signal.TRACES, total)
            nursery.cancel_scope.cancel()
        assert harness.dropped() == 0
        assert sink.records[Signal.TRACES] == total


async def test_stopping_releases_held_batches(sink: OtlpSink) -> None:
    """Batches in retry when the exporter stops go back to the buffer (nothing is lost)."""
    sink.fail_with = 503
    async with running_exporter(fast_config(sink.endpoint)) as harness:
        total = harness.offer([spans(10)])
        with trio.fail_after(5):
            await wait_until(lambda: harness.exporter.held > 0 and harness.counters.requests.total() >= 2)
    assert harness.buffer.queued_records()["traces"] == total
    assert harness.buffer.in_flight_bytes() == 0
    assert harness.dropped() == 0


async def test_stale_keepalive_connection_is_not_an_outage() -> None:
    """A server that closes idle keep-alive connections costs one silent reconnect, not a failure."""
    faulty = FaultyUpstream()
    async with trio.open_nursery() as nursery:
        await nursery.start(faulty.serve)
        faulty.queue(["ok", "close"])  # the second request finds its connection closed
        async with running_exporter(fast_config(faulty.endpoint)) as harness:
            harness.offer([spans(3)])
            with trio.fail_after(5):
                await harness.wait_settled(3)
            harness.offer([spans(3, start=3)])
            with trio.fail_after(5):
                await harness.wait_settled(6)
            stats = harness.exporter.pool.stats
            assert stats.opened >= 2 and stats.reused >= 1
        nursery.cancel_scope.cancel()


async def test_headers_are_sent_and_never_shown(
    sink: OtlpSink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Static and file-based headers reach the upstream; their values appear in no log or status."""
    key_file = tmp_path / "api-key"
    key_file.write_text("s3cr3t-from-file\n")
    os.chmod(key_file, 0o600)
    config = fast_config(
        sink.endpoint,
        headers={"x-tenant": "t0p-s3cr3t"},
        headers_from_file={"authorization": str(key_file)},
    )
    with caplog.at_level(logging.DEBUG):
        async with running_exporter(config) as harness:
            harness.offer([spans(2)])
            with trio.fail_after(5):
                await harness.wait_settled(2)
            status = repr(harness.exporter.status())
    received = sink.requests[0].headers
    assert received["authorization"] == "s3cr3t-from-file"
    assert received["x-tenant"] == "t0p-s3cr3t"
    assert "s3cr3t" not in status and "authorization" in status
    assert "s3cr3t" not in caplog.text


async def test_header_file_rotation(sink: OtlpSink, tmp_path: Path) -> None:
    """A rewritten API key file is picked up without a restart; a world-readable one is refused."""
    key_file = tmp_path / "api-key"
    key_file.write_text("first")
    os.chmod(key_file, 0o600)
    from edge_agent.tls.config import TlsClientConfig

    config = fast_config(
        sink.endpoint,
        headers_from_file={"x-api-key": str(key_file)},
        tls=TlsClientConfig(reload_interval=0.05),  # type: ignore[arg-type]
    )
    async with running_exporter(config) as harness:
        key_file.write_text("second-longer")
        await trio.sleep(0.3)
        harness.offer([spans(1)])
        with trio.fail_after(5):
            await harness.wait_settled(1)
        key_file.write_text("third")
        os.chmod(key_file, 0o644)
        await trio.sleep(0.3)
        harness.offer([spans(1, start=1)])
        with trio.fail_after(5):
            await harness.wait_settled(2)
    assert [r.headers["x-api-key"] for r in sink.requests] == ["second-longer", "second-longer"]
