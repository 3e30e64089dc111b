"""The adaptive controller: samples pressure, runs the mode machine, paces plugins (trio shell).

Theory of operation. One task ticks every :data:`LINK_TICK` seconds (or
every ``adaptive.sample_interval`` if that is shorter), aligned with the
agent's other periodic work so an idle agent wakes once for all of it. Each
tick re-reads what changes fast and costs nothing: the link state (the
exporter's breakers) and the buffer fill; on ticks that fall on a multiple of
``adaptive.sample_interval`` it first samples the device (psutil in a worker
thread). Each tick goes through the sans-IO :class:`~edge_agent.adaptive.modes.ModeMachine`;
a transition is logged as one line and counted
(``edge_agent.adaptive.mode.transitions{from,to}``), and switches the
downsampler's priority cutoff. Then every scraper's
:class:`PluginPacer` gets its effective interval from the
:class:`~edge_agent.adaptive.pacing.PacingPolicy`; a runner sleeping on a
longer interval wakes and re-times at once (a burst must not wait for the
next slow tick).

Scrapers hand their fragments to :meth:`AdaptiveController.observe` before
they are buffered: the anomaly detector decodes only fragments that can
hold a watched series. An anomaly emits one ``critical`` log record
upstream (at most one per series per ``burst_duration``) and makes the
emitting plugin and ``burst_plugins`` collect ``burst_factor`` times
faster for ``burst_duration``.

The link predictor's :class:`~edge_agent.adaptive.gate.AttemptGate` lives
here too (its state survives exporter replacement); the exporter consults it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from edge_agent.adaptive.anomaly import Anomaly, AnomalyDetector
from edge_agent.adaptive.config import AdaptiveConfig
from edge_agent.adaptive.gate import AttemptGate, Verdict, WallTime
from edge_agent.adaptive.holder import DownsamplingWriter
from edge_agent.adaptive.instruments import AdaptiveInstruments
from edge_agent.adaptive.modes import Mode, ModeMachine, Transition
from edge_agent.adaptive.pacing import Pace, PacingPolicy, PacingSpec
from edge_agent.adaptive.sampler import HostReading, HostSampler
from edge_agent.adaptive.signals import CpuMeter, PressureSample
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, Severity
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.clock import next_tick

log = logging.getLogger("edge_agent.adaptive")

# the default scrape interval and a multiple of the event-loop beat: the controller's tick,
# the beat and the scrapes share one aligned wake-up
LINK_TICK = 10.0
EVENT_SCOPE = attributes.scope("edge_agent.adaptive", "1")

Reader = Callable[[], Awaitable[HostReading | None]]


def local_wall_time(time_ns: int) -> WallTime:
    t = time.localtime(time_ns / 1e9)
    return WallTime(t.tm_hour, t.tm_min * 60.0 + t.tm_sec)


def utc_wall_time(time_ns: int) -> WallTime:
    t = time.gmtime(time_ns / 1e9)
    return WallTime(t.tm_hour, t.tm_min * 60.0 + t.tm_sec)


def thread_reader(sampler: HostSampler) -> Reader:
    async def read() -> HostReading | None:
        return await trio.to_thread.run_sync(sampler.read)

    return read


class PluginPacer:
    """What one scraper's runner sees of the controller: its pace, and a way to hand over its data."""

    def __init__(self, controller: AdaptiveController, spec: PacingSpec) -> None:
        self.controller = controller
        self.spec = spec
        self.pace = Pace(spec.base)
        self._changed = trio.Event()

    def current(self) -> Pace:
        return self.pace

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def scraped(self, fragments: Sequence[Fragment]) -> None:
        self.controller.observe(self.spec.name, fragments)

    def set(self, pace: Pace) -> None:
        if pace != self.pace:
            self.pace = pace
            self._changed.set()
            self._changed = trio.Event()


class AdaptiveController:
    def __init__(
        self,
        config: AdaptiveConfig,
        *,
        instruments: AdaptiveInstruments,
        writer: DownsamplingWriter,
        emit: Callable[[Fragment], bool],
        resource: Callable[[], bytes],
        wall_ns: Callable[[], int],
        link_up: Callable[[], bool | None],
        buffer_fill: Callable[[], float],
        read: Reader | None = None,
        wall: Callable[[int], WallTime] = local_wall_time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.instruments = instruments
        self.writer = writer
        self._emit = emit
        self._resource = resource
        self._wall_ns = wall_ns
        self.wall_clock = wall  # local time of day by default; the simulator uses UTC
        self._link_up = link_up
        self._buffer_fill = buffer_fill
        self._read = read
        self.machine = ModeMachine(config)
        self.policy = PacingPolicy(config)
        self.detector = AnomalyDetector(config.anomaly)
        self.gate = AttemptGate(config.predictor, rng=rng)
        self.cpu = CpuMeter(config.cpu_window)
        self.pacers: dict[str, PluginPacer] = {}
        self._watched: set[str] = set()
        self._last_event: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.sample = PressureSample(at=0.0)
        self.anomalies: list[Anomaly] = []
        self._poked = trio.Event()
        instruments.publish(self)

    # -- registration (the agent, when it starts and stops runners) ---------

    def pacer(self, spec: PacingSpec) -> PluginPacer:
        pacer = self.pacers[spec.name] = PluginPacer(self, spec)
        pacer.set(self.policy.pace(spec, trio.current_time()))
        return pacer

    def forget(self, name: str) -> None:
        self.pacers.pop(name, None)
        self._watched.discard(name)

    def reconfigure(self, config: AdaptiveConfig) -> None:
        """Apply a new ``[adaptive]`` section in place (learned state is kept)."""
        if config == self.config:
            return
        self.config = config
        self.machine.reconfigure(config)
        self.policy.reconfigure(config)
        self.gate.reconfigure(config.predictor)
        self.writer.config = config.downsample
        if config.anomaly != self.detector.config:
            self.detector = AnomalyDetector(config.anomaly)
        self.cpu.window = config.cpu_window
        if not config.enabled:
            self.machine = ModeMachine(config, now=trio.current_time())  # off means normal, not frozen
        self._apply_cutoff()
        self._repace(trio.current_time())

    # -- the exporter's attempt advisor (link predictor) ----------------------

    def advise(self, now: float) -> Verdict:
        return self.gate.check(now, self.wall_time())

    def learned(self, advice: Verdict, now: float, *, failed: bool, rtt: float | None) -> None:
        self.gate.outcome(advice, now, failed=failed, rtt=rtt)
        if self._link_up() != self.sample.link_up:
            self._poked.set()  # the link went up or down: re-evaluate now, not at the next tick

    @property
    def mode(self) -> Mode:
        return self.machine.mode

    def wall_time(self) -> WallTime:
        return self.wall_clock(self._wall_ns())

    # -- running -----------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.policy.started = trio.current_time()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.writer.run)
            nursery.start_soon(self._tick_loop)
            task_status.started()

    async def _tick_loop(self) -> None:
        period = self.config.sample_interval
        tick = min(LINK_TICK, period)
        next_sample = trio.current_time()
        while True:
            now = trio.current_time()
            if now >= next_sample - 1e-3:  # tolerance: float rounding of the aligned grid
                await self._sample()
                next_sample = next_tick(period)
            self.evaluate()
            poked = self._poked = trio.Event()
            with trio.move_on_at(next_tick(tick)):
                await poked.wait()

    async def _sample(self) -> None:
        reading = await self._read() if self._read is not None else None
        now = trio.current_time()
        agent_cpu = None
        if reading is not None and reading.cpu_seconds is not None:
            agent_cpu = self.cpu.add(now, reading.cpu_seconds)
        if reading is not None:
            self.sample = PressureSample(
                at=now,
                host_cpu=reading.host_cpu,
                agent_cpu=agent_cpu,
                memory_used=reading.memory_used,
                rss=reading.rss,
                on_battery=reading.on_battery,
                battery_percent=reading.battery_percent,
            )
        self.policy.governor.update(agent_cpu)

    def evaluate(self) -> Transition | None:
        """Re-read the fast signals, run the mode machine and re-pace every plugin."""
        now = trio.current_time()
        sample = dataclasses.replace(
            self.sample, at=now, link_up=self._link_up(), buffer_fill=self._buffer_fill()
        )
        self.sample = sample
        transition = self.machine.update(sample) if self.config.enabled else None
        if transition is not None:
            self._transitioned(transition)
        elif self.machine.flipped:
            for mode, active in self.machine.flipped:  # a condition changed under a more severe mode
                what = f"applies ({self.machine.reasons.get(mode, '')})" if active else "cleared"
                log.info("condition %s %s; mode stays %s", mode.value, what, self.mode.value)
        self._apply_cutoff()
        self.policy.conditions = self.machine.active() if self.config.enabled else ()
        self.policy.on_battery = bool(sample.on_battery)
        self._repace(now)
        return transition

    def _transitioned(self, t: Transition) -> None:
        self.instruments.transitions.inc(1, **{"from": t.old.value, "to": t.new.value})
        level = logging.INFO if t.new is Mode.NORMAL else logging.WARNING
        log.log(level, "%s", t.describe())

    def _apply_cutoff(self) -> None:
        ds = self.config.downsample
        active = self.machine.active() if self.config.enabled else ()
        pressed, offline = Mode.DISK_PRESSURE in active, Mode.OFFLINE in active
        if not ds.enabled or not (pressed or offline):
            self.writer.set_cutoff(None)
        elif pressed and offline:
            self.writer.set_cutoff(ds.disk_pressure_priority, ds.disk_pressure_window)
        else:
            # online under disk pressure the link is draining the backlog: fresh data at
            # the disk-pressure priority must flow, only the offline priority is still folded
            cutoff = (
                ds.offline_priority if not pressed else max(ds.offline_priority, ds.disk_pressure_priority)
            )
            self.writer.set_cutoff(cutoff, ds.disk_pressure_window if pressed else ds.window)

    def _repace(self, now: float) -> None:
        for name, pacer in self.pacers.items():
            spec = pacer.spec
            if (name in self._watched) != spec.watched:
                spec = pacer.spec = dataclasses.replace(spec, watched=name in self._watched)
            pacer.set(self.policy.pace(spec, now))

    # -- anomalies ---------------------------------------------------------

    def observe(self, plugin: str, fragments: Sequence[Fragment]) -> None:
        """Scraped data on its way to the buffer: feed watched series to the detector."""
        detector = self.detector
        for fragment in fragments:
            if not detector.wants(fragment):
                continue
            self._watched.add(plugin)
            for anomaly in detector.observe(fragment):
                self._anomaly(plugin, anomaly)

    def _anomaly(self, plugin: str, anomaly: Anomaly) -> None:
        now = trio.current_time()
        config = self.config.anomaly
        self.anomalies = [*self.anomalies[-9:], anomaly]
        self.instruments.anomalies.inc(metric=anomaly.metric)
        bursting = (plugin, *config.burst_plugins)
        self.policy.burst(bursting, now)
        self._repace(now)
        key = (anomaly.metric, anomaly.attributes)
        last = self._last_event.get(key)
        if last is not None and now - last < config.burst_duration:
            return  # one event per series per burst: the burst was extended, that is enough
        self._last_event[key] = now
        log.warning(
            "anomaly: %s; %s collect %gx faster for %gs",
            anomaly.describe(),
            ", ".join(bursting),
            config.burst_factor,
            config.burst_duration,
        )
        if not self._emit(self._event(plugin, anomaly)):
            log.warning("the anomaly event could not be buffered (buffer full)")

    def _event(self, plugin: str, anomaly: Anomaly) -> Fragment:
        builder = LogsBuilder(self._resource(), EVENT_SCOPE, priority=Priority.CRITICAL)
        builder.record(
            f"anomaly: {anomaly.describe()}",
            time_ns=anomaly.time_ns or self._wall_ns(),
            observed_time_ns=self._wall_ns(),
            severity=Severity.WARN,
            event_name="edge_agent.anomaly",
            attributes={
                "edge_agent.plugin": plugin,
                "metric.name": anomaly.metric,
                **{f"metric.attributes.{k}": v for k, v in anomaly.attributes},
                "anomaly.value": anomaly.value,
                "anomaly.mean": anomaly.mean,
                "anomaly.sigma": anomaly.sigma,
                "anomaly.score": anomaly.score,
            },
        )
        return builder.build()

    # -- views -------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = trio.current_time()
        return {
            "enabled": self.config.enabled,
            "mode": self.mode.value,
            "since_s": round(now - self.machine.since, 1),
            "conditions": [m.value for m in self.machine.active()],
            "reasons": {m.value: r for m, r in self.machine.reasons.items() if m in self.machine.active()},
            "signals": self.sample.as_dict(),
            "cpu_stretch": round(self.policy.governor.stretch, 3),
            "plugins": {
                name: {
                    "interval_s": round(p.pace.interval, 3),
                    "base_s": p.spec.base,
                    "min_s": p.spec.minimum,
                    "max_s": p.spec.maximum,
                    "shed": p.pace.shed,
                    "why": p.pace.why,
                }
                for name, p in self.pacers.items()
            },
            "anomalies": {
                "series": len(self.detector.series),
                "recent": [a.describe() for a in self.anomalies],
            },
            "downsampling": {
                "cutoff": None if self.writer.cutoff is None else self.writer.cutoff.name.lower(),
                "held_records": self.writer.held_records(),
                "windows_folded": self.writer.windows_folded,
            },
            "predictor": self.gate.statistics(),
        }
