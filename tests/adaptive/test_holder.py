"""The downsampler in front of the buffer: what it holds, when windows fold, exact accounting."""

from __future__ import annotations

import trio
import trio.testing
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edge_agent.adaptive.config import DownsampleConfig
from edge_agent.adaptive.holder import DownsamplingWriter
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.telemetry import Registry

RESOURCE = attributes.resource({"service.name": "t"})
SCOPE = attributes.scope("test")


class Setup:
    def __init__(self, **config: object) -> None:
        reg = Registry()
        self.dropped = reg.counter("records.dropped", "", labels=("signal", "reason"))
        self.downsampled = reg.counter("records.folded", "", labels=("signal",))
        self.buffer = MemoryBuffer(8 << 20, self.dropped)
        self.writer = DownsamplingWriter(
            self.buffer,
            DownsampleConfig(**config),  # type: ignore[arg-type]
            clock=trio.current_time,
            downsampled=self.downsampled,
            dropped=self.dropped,
        )

    def queued(self) -> int:
        return self.buffer.queued_records()["metrics"]


def metric(priority: Priority, value: float = 1.0, points: int = 2) -> Fragment:
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=int(trio.current_time() * 1e9) + 1)
    b.gauge("g", [({"i": str(i)}, value) for i in range(points)])
    return b.build().with_priority(priority)


async def test_holds_low_priority_metrics_and_folds_per_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With the cutoff at bulk, bulk metrics are held and one window later arrive folded; normal
    metrics and logs pass at once; counts stay exact."""
    s = Setup(window=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(s.writer.run)
        s.writer.set_cutoff(Priority.BULK)
        for _ in range(6):
            assert s.writer.offer(metric(Priority.BULK))
            assert s.writer.offer(metric(Priority.NORMAL))
            await trio.sleep(10)
        logs = LogsBuilder(RESOURCE, SCOPE)
        logs.record("x")
        s.writer.offer(logs.build().with_priority(Priority.BULK))
        assert s.buffer.queued_records()["logs"] == 1
        await trio.sleep(1)
        assert s.writer.held_records() == 0  # the window (opened at 0) folded at 60
        nursery.cancel_scope.cancel()
    # 6 normal fragments x 2 points, plus the bulk window: 2 series x (last + summary)
    assert s.queued() == 12 + 4
    assert s.downsampled.value(signal="metrics") == 12 - 4
    assert s.writer.windows_folded == 1


async def test_window_timing_and_lifting_the_cutoff(autojump_clock: trio.testing.MockClock) -> None:
    """A window folds window seconds after its first fragment; lifting the cutoff flushes at once."""
    s = Setup(window=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(s.writer.run)
        s.writer.set_cutoff(Priority.NORMAL)
        s.writer.offer(metric(Priority.NORMAL))
        await trio.sleep(59.9)
        assert s.queued() == 0
        await trio.sleep(0.2)
        assert s.queued() == 2  # one point per series: nothing to summarise
        s.writer.offer(metric(Priority.BULK))
        s.writer.offer(metric(Priority.BULK))
        await trio.sleep(5)
        assert s.queued() == 2
        s.writer.set_cutoff(None)
        await trio.testing.wait_all_tasks_blocked()
        assert s.queued() == 2 + 4  # 2 series: last + summary each
        assert s.writer.held_records() == 0
        nursery.cancel_scope.cancel()


async def test_bound_on_held_bytes(autojump_clock: trio.testing.MockClock) -> None:
    """Past max_held_bytes the window folds early and nothing is held beyond the bound."""
    # below the size folded in a worker thread: autojump would race the thread
    s = Setup(window=3600.0, max_held_bytes=32 * 1024)
    async with trio.open_nursery() as nursery:
        await nursery.start(s.writer.run)
        s.writer.set_cutoff(Priority.BULK)
        for _ in range(400):
            s.writer.offer(metric(Priority.BULK, points=20))
            assert s.writer.held_bytes() <= 32 * 1024 + 2048
            await trio.sleep(1)
        assert s.writer.windows_folded >= 2
        nursery.cancel_scope.cancel()
    folded_in = 400 * 20 - s.writer.held_records()
    assert s.queued() + s.downsampled.value(signal="metrics") == folded_in


async def test_durable_appends_pass_through(autojump_clock: trio.testing.MockClock) -> None:
    """A receiver's durable append is never held (its client waits for the commit)."""
    s = Setup()
    s.writer.set_cutoff(Priority.CRITICAL)
    await s.writer.append(metric(Priority.BULK), durable=True)
    assert s.queued() == 2
    await s.writer.append(metric(Priority.BULK))
    assert s.writer.held_records() == 2


async def test_flush_all_on_shutdown_and_undecodable_data_is_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """flush_all writes every window; a fragment that does not decode is sent unchanged, not lost."""
    s = Setup()
    s.writer.set_cutoff(Priority.BULK)
    s.writer.offer(metric(Priority.BULK))
    broken = Fragment(metric(Priority.BULK).signal, b"\xff\xff\xff", 3, priority=Priority.BULK)
    s.writer.offer(broken)
    await s.writer.flush_all()
    assert s.queued() == 2 + 3
    assert s.writer.held_records() == 0
    assert s.downsampled.value(signal="metrics") == 0


async def test_folded_output_parses(autojump_clock: trio.testing.MockClock) -> None:
    """What reaches the buffer is one valid OTLP metrics request per window."""
    s = Setup()
    s.writer.set_cutoff(Priority.BULK)
    for v in (1.0, 5.0, 3.0):
        s.writer.offer(metric(Priority.BULK, v, points=1))
    await s.writer.flush_all()
    batch = await s.buffer.next_batch(max_bytes=1 << 20)
    request = ExportMetricsServiceRequest.FromString(batch.body)
    names = [m.name for m in request.resource_metrics[0].scope_metrics[0].metrics]
    assert names == ["g", "g.downsampled"]
    assert batch.records == 2
