"""Exporter behaviour added for service operation: a batch in flight survives cancellation,
repeated unreachability is logged in summaries, and liveness tells a hung upstream (bounded by
the request timeout) from a wedged exporter loop."""

from __future__ import annotations

import logging
import re
import threading

import pytest
import trio
import trio.testing

from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.export.config import ExporterConfig, RetryConfig
from edge_agent.export.exporter import Exporter
from edge_agent.export.http import Endpoint
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.liveness import Liveness, StageProbe
from edge_agent.runtime.tasks import StoppableTask
from edge_agent.testing import OtlpSink
from tests.agent_harness import memory_connector, poll_until

RESOURCE = attributes.resource({"service.name": "test"})
SCOPE = attributes.scope("test", "1")


def _fill(buffer: MemoryBuffer, records: int = 10) -> None:
    builder = LogsBuilder(RESOURCE, SCOPE)
    for i in range(records):
        builder.record(f"line {i}")
    assert buffer.offer(builder.build())


def _exporter(
    connect: object, liveness: Liveness | None = None, **config: object
) -> tuple[Exporter, MemoryBuffer]:
    instruments = AgentInstruments.create()
    buffer = MemoryBuffer(1 << 20, instruments.dropped)
    # the memory connector ignores the host; a loopback name keeps the plain-HTTP rule quiet
    cfg = ExporterConfig(endpoint="http://localhost:4318", **config)  # type: ignore[arg-type]
    probe = StageProbe(liveness or Liveness(0), "exporter", trio.current_time)
    exporter = Exporter(cfg, buffer, instruments.export, connect=connect, probe=probe, environ={})  # type: ignore[arg-type]
    return exporter, buffer


async def test_cancelled_delivery_puts_the_batch_back(autojump_clock: object) -> None:
    """Cancelling the exporter mid-retry (shutdown, reload) returns its batch to the buffer."""
    sink = OtlpSink(fail_with=503)
    async with trio.open_nursery() as nursery:
        exporter, buffer = _exporter(memory_connector(sink, nursery))
        _fill(buffer)
        queued = buffer.queued_bytes()
        task = await StoppableTask.start(nursery, "exporter", exporter.run)
        await poll_until(lambda: exporter.status()["requests_failed"] >= 2, 0.1)
        assert buffer.in_flight_bytes() == queued
        await task.stop()
        assert buffer.in_flight_bytes() == 0
        assert buffer.queued_bytes() == queued
        assert buffer.queued_records()["logs"] == 10
        nursery.cancel_scope.cancel()


async def test_unreachable_upstream_is_summarized_not_repeated(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """25 minutes of refused connections log one warning and two summaries, then one recovery line."""
    sink = OtlpSink()
    refusing = True

    async with trio.open_nursery() as nursery:
        forward = memory_connector(sink, nursery)

        async def connect(endpoint: Endpoint) -> trio.abc.Stream:
            if refusing:
                raise ConnectionRefusedError(111, "Connection refused")
            return await forward(endpoint)

        exporter, buffer = _exporter(connect)
        _fill(buffer)
        with caplog.at_level(logging.INFO, logger="edge_agent.exporter"):
            nursery.start_soon(exporter.run)
            await trio.sleep(25 * 60)
            refusing = False
            await sink.wait_for(Signal.LOGS, 10)
            await poll_until(lambda: exporter.status()["upstream"] == "reachable", 0.1)
        nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records]
    assert exporter.status()["requests_failed"] > 20  # the breaker paces probes: ~1 a minute
    assert len(lines) == 4, lines
    assert lines[0].startswith(
        "upstream http://localhost:4318 is unreachable: localhost:4318: connection refused"
    )
    # summaries come with the first probe (one a minute) at least ten minutes after the last line
    assert re.match(r"upstream http://localhost:4318 still unreachable after 1[01]m \(", lines[1])
    assert "failed attempts; last error: localhost:4318: connection refused" in lines[1]
    assert re.match(r"upstream http://localhost:4318 still unreachable after 2[0-2]m", lines[2])
    assert lines[3].startswith("upstream http://localhost:4318 is reachable again after 25m")


async def test_hung_upstream_is_not_a_wedge(autojump_clock: object) -> None:
    """An upstream that accepts and never answers is bounded by the request timeout: still live."""
    liveness = Liveness(grace=5)
    peers: list[trio.abc.Stream] = []

    async def connect(endpoint: Endpoint) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        peers.append(server)  # nobody ever reads or answers
        return client

    exporter, buffer = _exporter(connect, liveness, timeout=10.0)
    _fill(buffer)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(exporter.run)
        for _ in range(600):
            await trio.sleep(1)
            assert liveness.check(trio.current_time()).live
        status = exporter.status()
        assert status["requests_failed"] >= 10
        assert status["endpoints"][0]["last_error_kind"] == "timeout"
        nursery.cancel_scope.cancel()


async def test_exporter_stuck_in_an_uncancellable_call_is_wedged(thread_safe_clock: object) -> None:
    """A connect stuck in a thread that ignores cancellation outlives timeout + grace: wedged."""
    liveness = Liveness(grace=5)
    release = threading.Event()

    async def connect(endpoint: Endpoint) -> trio.abc.Stream:
        await trio.to_thread.run_sync(release.wait)  # not abandonable: the loop is stuck here
        raise ConnectionRefusedError(111, "Connection refused")

    exporter, buffer = _exporter(
        connect, liveness, timeout=10.0, retry_on_failure=RetryConfig(initial_interval=1.0, max_interval=1.0)
    )  # type: ignore[arg-type]
    _fill(buffer)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(exporter.run)
            with trio.fail_after(60):
                await poll_until(lambda: not liveness.check(trio.current_time()).live, 1)
            report = liveness.check(trio.current_time())
            assert report.describe().startswith("wedged: exporter (export request) made no progress for")
            release.set()
            with trio.fail_after(60):
                await poll_until(lambda: liveness.check(trio.current_time()).live, 0.5)
            nursery.cancel_scope.cancel()
    finally:
        release.set()
