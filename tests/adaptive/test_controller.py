"""The adaptive controller on MockClock: synthetic pressure drives modes, pacers, downsampling, bursts."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
import trio
import trio.testing
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from edge_agent.adaptive.config import AdaptiveConfig, AnomalyConfig
from edge_agent.adaptive.controller import AdaptiveController
from edge_agent.adaptive.holder import DownsamplingWriter
from edge_agent.adaptive.instruments import AdaptiveInstruments
from edge_agent.adaptive.modes import Mode
from edge_agent.adaptive.pacing import PacingSpec
from edge_agent.adaptive.sampler import HostReading
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import MetricsBuilder
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.telemetry import Registry

RESOURCE = attributes.resource({"service.name": "t"})


class World:
    """Synthetic signals the controller reads."""

    def __init__(self, config: AdaptiveConfig) -> None:
        self.host_cpu = 0.2
        self.link_up: bool | None = True
        self.fill = 0.0
        self.events: list[Fragment] = []
        reg = Registry()
        self.registry = reg
        dropped = reg.counter("records.dropped", "", labels=("signal", "reason"))
        self.buffer = MemoryBuffer(8 << 20, dropped)
        instruments = AdaptiveInstruments.create(reg)
        writer = DownsamplingWriter(
            self.buffer,
            config.downsample,
            clock=trio.current_time,
            downsampled=instruments.downsampled,
            dropped=dropped,
        )
        self.controller = AdaptiveController(
            config,
            instruments=instruments,
            writer=writer,
            emit=self._emit,
            resource=lambda: RESOURCE,
            wall_ns=lambda: int(trio.current_time() * 1e9),
            link_up=lambda: self.link_up,
            buffer_fill=lambda: self.fill,
            read=self._read,
        )

    def _emit(self, fragment: Fragment) -> bool:
        self.events.append(fragment)
        return True

    async def _read(self) -> HostReading:
        await trio.lowlevel.checkpoint()
        return HostReading(host_cpu=self.host_cpu, cpu_seconds=0.0, memory_used=0.3, rss=20 << 20)

    def metric(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        snap = next(s for s in self.registry.collect() if s.name == name)
        return {tuple(sorted(x.labels.items())): x.value for x in snap.samples}


CONFIG = AdaptiveConfig(
    sample_interval=5.0,
    enter_after=20.0,
    exit_after=60.0,
    anomaly=AnomalyConfig(series=("probe.value",), warmup=10, burst_duration=300.0, burst_factor=4.0),
)


def spec(name: str, priority: Priority) -> PacingSpec:
    return PacingSpec(name, 10.0, 2.5, 60.0, priority)


async def test_constrained_mode_slows_plugins_logs_and_counts(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A busy device enters constrained after enter_after: one log line, a transition count, the mode
    gauge, and normal/bulk plugins slow down; calm returns everything after exit_after."""
    world = World(CONFIG)
    c = world.controller
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        pacers = {p: c.pacer(spec(p.name.lower(), p)) for p in Priority}
        await trio.sleep(30)
        assert c.mode is Mode.NORMAL
        world.host_cpu = 0.97
        await trio.sleep(30)
        assert c.mode is Mode.CONSTRAINED
        assert {p: x.current().interval for p, x in pacers.items()} == {
            Priority.CRITICAL: 10.0,
            Priority.NORMAL: 20.0,
            Priority.BULK: 40.0,
        }
        assert world.metric("adaptive.mode")[(("mode", "constrained"),)] == 1.0
        world.host_cpu = 0.3
        await trio.sleep(70)
        assert c.mode is Mode.NORMAL
        assert pacers[Priority.BULK].current().interval == 10.0
        nursery.cancel_scope.cancel()
    transitions = world.metric("adaptive.mode.transitions")
    assert transitions == {
        (("from", "normal"), ("to", "constrained")): 1.0,
        (("from", "constrained"), ("to", "normal")): 1.0,
    }
    lines = [r.getMessage() for r in caplog.records if r.name == "edge_agent.adaptive"]
    assert lines == [
        "mode normal -> constrained: device CPU 97% busy",
        "mode constrained -> normal: constrained condition cleared",
    ]


async def test_offline_and_disk_pressure_set_the_downsampling_cutoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Offline holds bulk metrics for downsampling, with disk pressure normal ones too (5 min
    windows); once the link is back only bulk is folded while the backlog drains; recovery none."""
    world = World(CONFIG)
    c = world.controller
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        world.link_up = False
        await trio.sleep(3)
        assert (c.mode, c.writer.cutoff) == (Mode.OFFLINE, Priority.BULK)
        world.fill = 0.95
        await trio.sleep(25)
        assert (c.mode, c.writer.cutoff, c.writer.window) == (Mode.DISK_PRESSURE, Priority.NORMAL, 300.0)
        world.link_up = True
        await trio.sleep(3)
        assert (c.mode, c.writer.cutoff) == (Mode.DISK_PRESSURE, Priority.BULK)
        world.fill = 0.1
        await trio.sleep(65)
        assert (c.mode, c.writer.cutoff) == (Mode.NORMAL, None)
        status = c.status()
        nursery.cancel_scope.cancel()
    assert status["mode"] == "normal"
    assert status["downsampling"]["cutoff"] is None


def probe_fragment(value: float) -> Fragment:
    b = MetricsBuilder(RESOURCE, attributes.scope("probe"), time_ns=int(trio.current_time() * 1e9) + 1)
    b.gauge("probe.value", value)
    return b.build()


async def test_anomaly_emits_one_critical_event_and_bursts(autojump_clock: trio.testing.MockClock) -> None:
    """A spike in a watched series: one critical log record upstream, the emitting plugin and the
    burst plugins collect burst_factor faster; a second spike within the burst adds no event."""
    config = AdaptiveConfig(
        sample_interval=5.0,
        anomaly=AnomalyConfig(series=("probe.value",), warmup=10, burst_plugins=("extra",)),
    )
    world = World(config)
    c = world.controller
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        probe = c.pacer(spec("probe", Priority.NORMAL))
        extra = c.pacer(spec("extra", Priority.BULK))
        other = c.pacer(spec("other", Priority.NORMAL))
        for i in range(20):
            c.observe("probe", [probe_fragment(1.0 + 0.01 * (i % 3))])
            await trio.sleep(10)
        assert world.events == []
        c.observe("probe", [probe_fragment(9.0)])
        assert (probe.current().interval, extra.current().interval, other.current().interval) == (
            2.5,
            2.5,
            10.0,
        )
        await trio.sleep(10)
        c.observe("probe", [probe_fragment(9.0)])
        assert len(world.events) == 1
        await trio.sleep(305)  # the second spike extended the burst to 310 s; re-paced within a tick
        assert probe.current().interval == 10.0
        nursery.cancel_scope.cancel()
    event = world.events[0]
    assert (event.priority, event.records) == (Priority.CRITICAL, 1)
    record = ExportLogsServiceRequest.FromString(event.payload).resource_logs[0].scope_logs[0].log_records[0]
    attrs: dict[str, Any] = {kv.key: kv.value for kv in record.attributes}
    assert record.event_name == "edge_agent.anomaly"
    assert attrs["metric.name"].string_value == "probe.value"
    assert attrs["edge_agent.plugin"].string_value == "probe"
    assert attrs["anomaly.value"].double_value == 9.0
    assert record.body.string_value.startswith("anomaly: probe.value = 9")
    assert world.metric("anomaly.detected") == {(("metric", "probe.value"),): 2.0}


async def test_pacer_wakes_waiters_on_change(autojump_clock: trio.testing.MockClock) -> None:
    """A runner waiting on its pacer wakes when the pace changes, not before."""
    world = World(CONFIG)
    c = world.controller
    pacer = c.pacer(spec("p", Priority.NORMAL))
    woke: list[float] = []

    async def waiter() -> None:
        await pacer.wait_changed()
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        nursery.start_soon(waiter)
        await trio.sleep(5)
        assert woke == []
        c.policy.burst(("p",), trio.current_time())
        c.evaluate()
        await trio.testing.wait_all_tasks_blocked()
    assert [w - start for w in woke] == [5.0]


async def test_reconfigure_applies_in_place(autojump_clock: trio.testing.MockClock) -> None:
    """A new [adaptive] section takes effect without losing learned state; disabling adapts nothing."""
    world = World(CONFIG)
    c = world.controller
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        pacer = c.pacer(spec("p", Priority.BULK))
        world.host_cpu = 0.99
        await trio.sleep(30)
        assert pacer.current().interval == 40.0
        c.reconfigure(AdaptiveConfig(enabled=False))
        assert pacer.current().interval == 10.0
        assert (c.mode, c.writer.cutoff) == (Mode.NORMAL, None)
        await trio.sleep(10)
        assert c.mode is Mode.NORMAL
        nursery.cancel_scope.cancel()


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.adaptive")


async def test_an_export_attempt_that_flips_the_link_is_seen_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The controller ticks every 10 s, but an attempt that turns the link down or up is
    evaluated at once; attempts that change nothing wait for the tick."""
    world = World(dataclasses.replace(CONFIG, sample_interval=60.0))
    c = world.controller
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        await trio.sleep(10.5)  # just past a tick
        assert c.sample.link_up is True
        seen_at = c.sample.at
        c.learned(c.advise(trio.current_time()), trio.current_time(), failed=False, rtt=0.01)
        await trio.sleep(1)
        assert c.sample.at == seen_at  # nothing changed: no extra evaluation
        world.link_up = False
        c.learned(c.advise(trio.current_time()), trio.current_time(), failed=True, rtt=None)
        await trio.sleep(0.01)
        assert c.sample.link_up is False and c.sample.at == 11.5
        world.link_up = True
        c.learned(c.advise(trio.current_time()), trio.current_time(), failed=False, rtt=0.01)
        await trio.sleep(0.01)
        assert c.sample.link_up is True
        nursery.cancel_scope.cancel()
