"""The agent: builds the pipeline from a validated config and runs it.

Nursery tree::

    core nursery:   exporter, admin endpoint
      sources nursery: one supervised task per plugin instance, self-telemetry

``run`` reports started once every stage is up (that is when the agent is
ready). :meth:`Agent.request_stop` begins an orderly shutdown: the sources
are cancelled first, the buffer commits what it holds, then the exporter
gets ``shutdown_grace`` to drain before the core is cancelled (a disk buffer
keeps whatever is left for the next start).

Each plugin instance and the exporter run as a
:class:`~edge_agent.runtime.tasks.StoppableTask`, so :meth:`Agent.reconfigure`
can stop, start and swap them one at a time while everything else keeps
running (see ``docs/reconfiguration.md``). The stages report progress to
:attr:`Agent.liveness`, which feeds ``/healthz`` and the systemd watchdog.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from edge_agent._version import __version__
from edge_agent.adaptive.controller import AdaptiveController, Reader, thread_reader
from edge_agent.adaptive.holder import DownsamplingWriter
from edge_agent.adaptive.instruments import AdaptiveInstruments
from edge_agent.adaptive.modes import Mode
from edge_agent.adaptive.pacing import PacingSpec
from edge_agent.adaptive.sampler import HostSampler
from edge_agent.admin.config import AdminConfig, parse_host_port
from edge_agent.admin.endpoint import AdminEndpoint
from edge_agent.buffer.factory import open_buffer, wire_encoding
from edge_agent.config.load import LoadedConfig
from edge_agent.config.schema import AgentConfig, PluginInstanceConfig
from edge_agent.config.secrets import check_secret_files
from edge_agent.errors import ConfigError, EdgeAgentError, PluginError, ReconfigureError
from edge_agent.export.breaker import BreakerState
from edge_agent.export.config import ExporterConfig
from edge_agent.export.exporter import Connector, Exporter, open_tcp
from edge_agent.httpserver import HttpServer, ServerLimits
from edge_agent.otlp import attributes
from edge_agent.otlp.fragment import Priority
from edge_agent.plugin_api import Plugin, Receiver
from edge_agent.runtime.clock import AgentClock, set_tick_origin
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.liveness import Liveness, StageProbe
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.reconfig import SELF_TELEMETRY, ReconfigPlan, instance_specs, plan_reconfigure
from edge_agent.runtime.resource import host_resource, new_device_id
from edge_agent.runtime.selftelemetry import SelfTelemetry
from edge_agent.runtime.service import beat_event_loop
from edge_agent.runtime.state import CborStateStore, ensure_private_dir, write_atomic
from edge_agent.runtime.summary import ServiceSummary
from edge_agent.runtime.supervisor import PluginRunner, PluginStatus
from edge_agent.runtime.tasks import StoppableTask

if TYPE_CHECKING:
    from edge_agent.processors.stage import ProcessorStage
from edge_agent.security.secrets import read_secret_line

log = logging.getLogger("edge_agent.agent")

ADMIN_ADDRESS_FILE = "admin.addr"
# how long reconfigure waits for a started plugin instance to report ready or failed
START_CHECK_SECONDS = 10.0


def resolve_state_dir(configured: str, environ: dict[str, str] | os._Environ[str]) -> Path:
    """``agent.state_dir``, else systemd's ``$STATE_DIRECTORY`` (first entry), else ``./edge-agent-data``."""
    if configured:
        return Path(configured)
    systemd = environ.get("STATE_DIRECTORY", "")
    if systemd:
        return Path(systemd.split(":")[0])
    return Path("edge-agent-data")


@dataclass
class _Stage:
    state: str = "starting"  # starting | running | reloading | draining | stopped
    started_unix: float = 0.0


@dataclass
class _Prepared:
    """Everything a reconfiguration needs that can fail, built before anything is touched."""

    registry: PluginRegistry
    plugins: dict[str, Plugin[Any]] = field(default_factory=dict)
    exporter: Exporter | None = None
    processors: ProcessorStage | None = None
    swap_processors: bool = False  # processors changed: install ``processors`` (None = none)


Undo = Callable[[], Awaitable[None]]


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        registry: PluginRegistry,
        *,
        state_dir: Path,
        clock: AgentClock | None = None,
        connect: Connector = open_tcp,
        config_files: tuple[str, ...] = (),
        environ: Mapping[str, str] = os.environ,
        host_reader: Reader | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``host_reader`` (pressure signals) and ``rng`` (jitter, backoff, exploration) default to
        the real device and fresh randomness; the simulator passes synthetic and seeded ones."""
        self.config = config
        self.rng = rng or random.Random()
        self._host_reader = host_reader or thread_reader(HostSampler())
        self.registry = registry
        self.state_dir = state_dir
        self.clock = clock or AgentClock()
        self.config_files = config_files
        self.instruments = AgentInstruments.create()
        self.liveness = Liveness(config.service.stall_timeout)
        self.buffer = open_buffer(
            config.buffer,
            state_dir,
            self.instruments.buffer,
            exporter_compression=config.exporter.compression,
            wall_ns=self.clock.time_ns,
        )
        self.instruments.register_queue(self.buffer.queued_bytes, self.buffer.queued_records)
        self.adaptive = self._new_adaptive(config)
        self.pipeline = Pipeline(self.adaptive.writer, self.instruments.pipeline)
        self._connect = connect
        self._environ = environ  # $CREDENTIALS_DIRECTORY for the exporter's key and header files
        self.exporter = self._new_exporter(config.exporter)
        self._statuses: dict[str, PluginStatus] = {}
        self.admin_address: tuple[str, int] | None = None
        self.last_reload: dict[str, Any] | None = None
        self._stage = _Stage()
        self._stop = trio.Event()
        self._reconfig_lock = trio.Lock()
        self._runners: dict[str, StoppableTask] = {}
        self._exporter_task: StoppableTask | None = None
        self._core: trio.Nursery | None = None
        self._sources: trio.Nursery | None = None
        self._resource = b""
        # a registry plugin_types() built for other plugin_dirs, reused by the reconfigure that follows
        self._candidate_registry: tuple[tuple[str, ...], PluginRegistry] | None = None
        self.device_id = ""
        # extra /status sections contributed by optional components (the fleet client)
        self.status_extras: dict[str, Callable[[], Any]] = {}

    @property
    def plugin_statuses(self) -> list[PluginStatus]:
        """Live status of every running plugin instance, in start order."""
        return list(self._statuses.values())

    def plugin_status(self, name: str) -> PluginStatus | None:
        return self._statuses.get(name)

    @property
    def export_status(self) -> dict[str, Any]:
        """The exporter's ``/status`` section (endpoints, TLS, concurrency, health)."""
        return self.exporter.status()

    def _new_exporter(self, config: ExporterConfig) -> Exporter:
        return Exporter(
            config,
            self.buffer,
            self.instruments.export,
            connect=self._connect,
            environ=self._environ,
            probe=self._probe("exporter"),
            rng=random.Random(self.rng.random()),
            advisor=self.adaptive,
        )

    def _new_adaptive(self, config: AgentConfig) -> AdaptiveController:
        """Adaptive scheduling (issue 8): the downsampler sits between the pipeline and the buffer."""
        instruments = AdaptiveInstruments.create(self.instruments.registry)
        writer = DownsamplingWriter(
            self.buffer,
            config.adaptive.downsample,
            clock=trio.current_time,
            downsampled=instruments.downsampled,
            dropped=self.instruments.dropped,
        )
        return AdaptiveController(
            config.adaptive,
            instruments=instruments,
            writer=writer,
            emit=lambda f: self.pipeline.offer(f, plugin="adaptive", priority=Priority.CRITICAL),
            resource=lambda: self._resource,
            wall_ns=self.clock.time_ns,
            link_up=self._link_up,
            buffer_fill=self._buffer_fill,
            read=self._host_reader,
            rng=random.Random(self.rng.random()),
        )

    def _buffer_fill(self) -> float:
        return self.buffer.queued_bytes() / self.buffer.max_bytes if self.buffer.max_bytes else 0.0

    def _link_up(self) -> bool:
        """False while no endpoint's circuit breaker is closed, or the link predictor holds
        attempts back because it expects them to fail (either way the link is down)."""
        if self.adaptive.gate.is_holding(trio.current_time()):
            return False
        return any(e.breaker.state is BreakerState.CLOSED for e in self.exporter.endpoints.entries)

    def _probe(self, stage: str) -> StageProbe:
        return StageProbe(self.liveness, stage, trio.current_time)

    # -- lifecycle ---------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def has_started(self) -> bool:
        return self._stage.started_unix > 0

    @property
    def started_unix(self) -> float:
        return self._stage.started_unix

    @property
    def pipeline_state(self) -> str:
        """starting | running | reloading | draining | stopped"""
        return self._stage.state

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # secret files first: a world-readable key must stop the start before anything listens
        await trio.to_thread.run_sync(check_secret_files, self.config, self._environ)
        ensure_private_dir(self.state_dir)
        await self._install_processors()
        agent_state = CborStateStore(self.state_dir / "agent.cbor")
        self.device_id = await self._device_id(agent_state)
        self._resource = self._resource_bytes(self.config)
        self._stage.started_unix = time.time()
        set_tick_origin(trio.current_time())  # scrapes and periodic loops tick from our start
        async with trio.open_nursery() as core:
            self._core = core
            core.start_soon(beat_event_loop, self._probe("event_loop"))
            await self.exporter.prepare()  # certificates and secrets: a ConfigError stops the start here
            await core.start(self.buffer.run)
            await core.start(self.adaptive.run)
            self._exporter_task = await StoppableTask.start(core, "exporter", self.exporter.run)
            if self.config.admin.enabled:
                await core.start(self._serve_admin)
            async with trio.open_nursery() as sources:
                self._sources = sources
                tasks = [await self._launch(name, self.config) for name in instance_specs(self.config)]
                for task in tasks:
                    await task.ready.wait()
                self._stage.state = "running"
                log.info(
                    "edge-agent %s running: %d plugin(s), exporting to %s",
                    __version__,
                    len(tasks),
                    self.config.exporter.endpoint,
                )
                task_status.started()
                await self._stop.wait()
                async with self._reconfig_lock:  # a reload in progress finishes first
                    self._stage.state = "draining"
                    sources.cancel_scope.cancel()
            await self.adaptive.writer.flush_all()  # downsampling windows go to the buffer, then it drains
            await self._drain()
            core.cancel_scope.cancel()
        self._stage.state = "stopped"

    async def _drain(self) -> None:
        await self.buffer.flush()
        durable = self.buffer_is_durable()
        if not (durable and self.export_status["upstream"] == "unreachable"):
            with trio.move_on_after(self.config.agent.shutdown_grace):
                await self.buffer.wait_drained()
        left = self.buffer.queued_records()
        if any(left.values()):
            held = ", ".join(f"{n} {s}" for s, n in left.items() if n)
            if durable:
                log.info("shutting down with undelivered records on disk (%s): sent after restart", held)
            else:
                log.warning("shutting down with undelivered records held in memory (%s): they are lost", held)

    async def _device_id(self, store: CborStateStore) -> str:
        device_id = store.get("device_id")
        if not isinstance(device_id, str) or not device_id:
            device_id = new_device_id()
            await store.put("device_id", device_id)
        return device_id

    async def _install_processors(self) -> None:
        """Build the processor chain (reads key and value files: in a thread) and put it in the pipeline."""
        stage = await self._build_processors(self.config)
        self.pipeline.set_processors(stage)
        if stage is not None:
            log.info("processors: %s", ", ".join(stage.chain.names()))

    async def _build_processors(self, config: AgentConfig) -> ProcessorStage | None:
        if not any(p.enabled for p in config.processors):
            return None
        # imported on demand: an agent without processors never loads them (or protobuf for them)
        from edge_agent.processors.factory import build_chain
        from edge_agent.processors.stage import ProcessorCounters, ProcessorStage

        chain = await trio.to_thread.run_sync(
            partial(
                build_chain,
                config.processors,
                environ=self._environ,
                agent_attributes=config.resource.attributes,
            )
        )
        if chain is None:
            return None
        counters = ProcessorCounters.register(self.instruments.registry, self.instruments.dropped)
        return ProcessorStage(chain, counters)

    # -- plugins -----------------------------------------------------------

    def _resource_bytes(self, config: AgentConfig) -> bytes:
        return attributes.resource(host_resource(self.device_id, config.resource.attributes))

    def _construct(self, name: str, config: AgentConfig, registry: PluginRegistry) -> Plugin[Any]:
        """The plugin object for instance ``name`` of ``config`` (plugin code runs: may raise)."""
        if name == SELF_TELEMETRY:
            return SelfTelemetry(self.instruments.registry)
        inst = _instance(config, name)
        spec = registry.get(inst.type)
        try:
            return spec.cls(inst.settings)
        except Exception as exc:  # third-party constructor: any error means "cannot use this config"
            raise PluginError(f"plugin {name} ({inst.type}) rejected its config: {exc}") from exc

    async def _launch(
        self, name: str, config: AgentConfig, plugin: Plugin[Any] | None = None
    ) -> StoppableTask:
        """Start instance ``name`` of ``config`` in the sources nursery (not waiting for readiness)."""
        assert self._sources is not None
        plugin = plugin or self._construct(name, config, self.registry)
        runner = self._make_runner(plugin, name, config)
        task = await StoppableTask.start(self._sources, f"plugin {name}", runner.run)
        self._runners[name] = task
        return task

    async def _stop_instance(self, name: str) -> None:
        task = self._runners.pop(name)
        await task.stop()
        self._statuses.pop(name, None)
        self.adaptive.forget(name)

    def _make_runner(self, plugin: Plugin[Any], name: str, config: AgentConfig) -> PluginRunner:
        if name == SELF_TELEMETRY:
            type_name, priority = name, plugin.default_priority
            interval, jitter = float(config.self_telemetry.interval), 0.0
        else:
            inst = _instance(config, name)
            type_name = inst.type
            priority = inst.priority if inst.priority is not None else plugin.default_priority
            default_interval: float = getattr(plugin, "default_interval", 10.0)
            interval = float(inst.interval or default_interval)
            jitter = inst.jitter if inst.jitter is not None else 0.0
        plugins_dir = ensure_private_dir(self.state_dir / "plugins")
        ctx = RuntimeContext(
            name=name,
            priority=priority,
            pipeline=self.pipeline,
            state=CborStateStore(plugins_dir / f"{name}.cbor"),
            clock=self.clock,
            resource=self._resource,
            scope=attributes.scope(f"edge_agent.{type_name}", getattr(plugin, "version", "")),
            start_time_ns=self.clock.time_ns(),
            events=self.instruments.plugins.events,
        )
        status = PluginStatus(name=name, type=type_name, kind=plugin.kind)
        self._statuses[name] = status
        pacer = None
        if name != SELF_TELEMETRY and not isinstance(plugin, Receiver):
            inst = _instance(config, name)
            pacer = self.adaptive.pacer(pacing_spec(name, interval, priority, inst))
        runner = PluginRunner(
            plugin,
            ctx,
            status,
            self.instruments.plugins,
            interval=interval,
            jitter=jitter,
            probe=self._probe(f"plugin {name}"),
            pacer=pacer,
            rng=random.Random(self.rng.random()),
        )
        if isinstance(plugin, Receiver):
            status.interval_s = None
        return runner

    # -- admin -------------------------------------------------------------

    async def _serve_admin(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config.admin
        host, port = parse_host_port(cfg.endpoint)
        token = ""
        if cfg.bearer_token_file:
            token = await trio.to_thread.run_sync(
                partial(
                    read_secret_line,
                    cfg.bearer_token_file,
                    key="admin.bearer_token_file",
                    what="admin token file",
                    environ=self._environ,
                )
            )
        refused = self.instruments.registry.counter(
            "admin.refused", "admin endpoint requests and connections refused", labels=("reason",)
        )

        def count_refusal(reason: str) -> None:
            refused.inc(reason=reason)

        endpoint = AdminEndpoint(
            self.instruments.registry,
            self.status,
            self.readiness,
            self.health,
            token=token,
            refused=count_refusal,
        )
        server = HttpServer(endpoint.handle, admin_limits(cfg), name="admin", on_refusal=count_refusal)
        async with trio.open_nursery() as nursery:
            try:
                self.admin_address = await nursery.start(server.serve_tcp, host, port)
            except OSError as exc:
                raise EdgeAgentError(
                    f"admin endpoint cannot listen on {self.config.admin.endpoint}: {exc.strerror or exc} "
                    "(set admin.endpoint to a free port, or admin.enabled = false)"
                ) from None
            await trio.to_thread.run_sync(self._write_admin_address)
            task_status.started()

    def _write_admin_address(self) -> None:
        assert self.admin_address is not None
        host, port = self.admin_address
        write_atomic(self.state_dir / ADMIN_ADDRESS_FILE, f"{host}:{port}\n".encode())

    def readiness(self) -> tuple[bool, str]:
        if self._stage.state == "running":
            return True, "ready"
        return False, f"pipeline is {self._stage.state}"

    def health(self) -> tuple[bool, str]:
        """Liveness for ``/healthz`` and the watchdog: False once a stage is wedged."""
        report = self.liveness.check(trio.current_time())
        mode = self.adaptive.mode
        if report.live and mode is not Mode.NORMAL:
            return True, f"live (degraded: {mode.value})"
        return report.live, report.describe()

    def status(self) -> dict[str, Any]:
        dropped = self.instruments.dropped
        return {
            "agent": {
                "version": __version__,
                "pid": os.getpid(),
                "device_id": self.device_id,
                "uptime_s": round(time.time() - self._stage.started_unix, 1)
                if self._stage.started_unix
                else 0,
                "state_dir": str(self.state_dir),
                "config_files": list(self.config_files),
            },
            "pipeline": {"state": self._stage.state, "health": self.health()[1]},
            "adaptive": self.adaptive.status(),
            "last_reload": self.last_reload,
            "plugins": [s.as_dict() for s in self.plugin_statuses],
            "queue": self.buffer.status(),
            "export": {
                **self.export_status,
                "exported": {s["signal"]: v for s, v in _by_labels(self.instruments.export.exported)},
                "dropped": [{**labels, "records": v} for labels, v in _by_labels(dropped)],
            },
            **{name: extra() for name, extra in self.status_extras.items()},
        }

    # -- live reconfiguration (issue 6; reused by the fleet client) --------

    def plugin_types(self, plugin_dirs: Sequence[str]) -> PluginRegistry:
        """The ``plugin_types`` factory to load a config for :meth:`reconfigure` with.

        With unchanged ``agent.plugin_dirs`` it is the running registry, so the
        settings of unchanged plugin instances compare equal and those instances
        keep running. Thread-safe enough to be called from the loader's worker thread.
        """
        if tuple(plugin_dirs) == tuple(self.config.agent.plugin_dirs):
            return self.registry
        registry = PluginRegistry.for_config(plugin_dirs)
        self._candidate_registry = (tuple(plugin_dirs), registry)
        return registry

    def plan(self, new: AgentConfig) -> ReconfigPlan:
        """What :meth:`reconfigure` would change, without changing anything."""
        return plan_reconfigure(self.config, new)

    async def reconfigure(self, loaded: LoadedConfig) -> ReconfigPlan:
        """Apply a validated config to the running agent; returns the plan that was applied.

        Raises :class:`ConfigError`/:class:`PluginError` when the new config cannot
        be used (nothing was changed), and :class:`ReconfigureError` when the agent
        is not running or applying failed part-way (everything applied so far was
        rolled back to the previous config). Concurrent calls run one at a time.
        """
        async with self._reconfig_lock:
            if self._stage.state != "running":
                raise ReconfigureError(f"cannot reconfigure while the pipeline is {self._stage.state}")
            plan = plan_reconfigure(self.config, loaded.config)
            prepared = await self._prepare(plan)
            self._stage.state = "reloading"
            undo: list[Undo] = []
            try:
                await self._apply(plan, prepared, undo)
            except Exception as exc:  # any failure while applying: undo, then report it as one error
                await self._roll_back(undo)
                raise ReconfigureError(
                    f"applying the new config failed: {exc}; rolled back to the previous config",
                    rolled_back=True,
                ) from exc
            finally:
                self._stage.state = "running"
            self.config, self.config_files, self.registry = plan.effective, loaded.files, prepared.registry
            self.last_reload = {"unix": time.time(), "changes": plan.describe(), "files": list(loaded.files)}
            return plan

    async def _prepare(self, plan: ReconfigPlan) -> _Prepared:
        new = plan.effective
        registry = self.registry
        if new.agent.plugin_dirs != self.config.agent.plugin_dirs:
            candidate, self._candidate_registry = self._candidate_registry, None
            if candidate is not None and candidate[0] == tuple(new.agent.plugin_dirs):
                registry = candidate[1]
            else:
                registry = await trio.to_thread.run_sync(PluginRegistry.for_config, new.agent.plugin_dirs)
        prepared = _Prepared(registry)
        # new secret files and processor key/value files are checked before anything changes
        await trio.to_thread.run_sync(check_secret_files, new, self._environ)
        if _processors_changed(self.config, new):
            prepared.processors = await self._build_processors(new)
            prepared.swap_processors = True
        for name in (*plan.start, *plan.restart):
            prepared.plugins[name] = self._construct(name, new, registry)
        if plan.replace_exporter:
            prepared.exporter = self._new_exporter(new.exporter)
            await prepared.exporter.prepare()  # bad new TLS files refuse the reload, before anything changes
        return prepared

    async def _apply(self, plan: ReconfigPlan, prepared: _Prepared, undo: list[Undo]) -> None:
        old, new = self.config, plan.effective
        self._apply_live_settings(new)
        undo.append(_sync(lambda: self._apply_live_settings(old)))
        if prepared.swap_processors:
            previous = self.pipeline.processors
            self.pipeline.set_processors(prepared.processors)
            undo.append(_sync(lambda: self.pipeline.set_processors(previous)))
        if prepared.exporter is not None:
            await self._swap_exporter(prepared.exporter)
            undo.append(lambda: self._swap_exporter(self._new_exporter(old.exporter)))
        for name in (*plan.stop, *plan.restart):
            await self._stop_instance(name)
            undo.append(functools.partial(self._relaunch, name, old))
        # after the stops, so that undoing restores the old resource before relaunching old instances
        self._resource = self._resource_bytes(new)
        undo.append(_sync(lambda: setattr(self, "_resource", self._resource_bytes(old))))
        started = []
        for name in (*plan.start, *plan.restart):
            started.append(await self._launch(name, new, prepared.plugins[name]))
            undo.append(functools.partial(self._stop_instance, name))
        await self._check_started(started)

    async def _relaunch(self, name: str, config: AgentConfig) -> None:
        await self._launch(name, config)

    def _apply_live_settings(self, config: AgentConfig) -> None:
        logging.getLogger("edge_agent").setLevel(config.agent.log_level.upper())
        self.liveness.grace = config.service.stall_timeout
        self.adaptive.reconfigure(config.adaptive)

    async def _swap_exporter(self, exporter: Exporter) -> None:
        """Stop the exporter (its batch in flight goes back to the buffer) and start ``exporter``."""
        assert self._core is not None
        assert self._exporter_task is not None
        await self._exporter_task.stop()
        self.buffer.use_wire_encoding(wire_encoding(exporter.config.compression))
        self.exporter = exporter
        self._exporter_task = await StoppableTask.start(self._core, "exporter", exporter.run)

    async def _check_started(self, tasks: list[StoppableTask]) -> None:
        """Fail if a newly started instance failed its first start (setup error, port taken ...)."""
        with trio.move_on_after(START_CHECK_SECONDS):
            for task in tasks:
                await task.ready.wait()
        for task in tasks:
            name = task.name.removeprefix("plugin ")
            status = self._statuses.get(name)
            if status is not None and status.state == "backoff":
                raise PluginError(f"plugin {name} failed to start: {status.last_error}")

    async def _roll_back(self, undo: list[Undo]) -> None:
        for step in reversed(undo):
            try:
                await step()
            except Exception as exc:  # keep undoing the rest; the agent must stay up
                log.error("rollback step failed: %s; the running config may be incomplete", exc)

    # -- summaries ---------------------------------------------------------

    def summary(self) -> ServiceSummary:
        """The facts behind the one-line ``STATUS=`` shown by ``systemctl status``."""
        return ServiceSummary(
            state=self._stage.state,
            upstream=self.export_status["upstream"],
            queued_records=sum(self.buffer.queued_records().values()),
            queued_bytes=self.buffer.queued_bytes(),
            last_export_unix=self.export_status["last_success_unix"],
            plugins=len(self._runners),
            health=self.health()[1] if self._stage.state in ("running", "reloading") else "",
            degradation=self.adaptive.mode.value,
        )

    def accounting(self) -> dict[str, int]:
        """Record totals since start: collected = exported + dropped + queued + held + downsampled
        (when nothing is in flight; held and downsampled are non-zero only while degraded)."""
        writer = self.adaptive.writer
        return {
            "collected": int(self.instruments.pipeline.collected.total()),
            "exported": int(self.instruments.export.exported.total()),
            "dropped": int(self.instruments.dropped.total()),
            "queued": sum(self.buffer.queued_records().values()),
            "held": writer.held_records(),
            "downsampled": int(self.adaptive.instruments.downsampled.total()),
        }

    def buffer_is_durable(self) -> bool:
        """True when queued data survives a restart (the disk buffer names itself ``kind = "disk"``)."""
        return getattr(self.buffer, "kind", "memory") == "disk"


def _instance(config: AgentConfig, name: str) -> PluginInstanceConfig:
    for inst in config.plugins:
        if inst.name == name:
            return inst
    raise ConfigError(f"no plugin instance named {name!r}", key=f"plugins.{name}")


def pacing_spec(name: str, interval: float, priority: Priority, inst: PluginInstanceConfig) -> PacingSpec:
    """A scraper's adaptive bounds: configured, else ``[interval / 4, 6 x interval]``."""
    minimum = inst.min_interval if inst.min_interval is not None else interval / 4
    maximum = inst.max_interval if inst.max_interval is not None else interval * 6
    maximum = max(maximum, minimum)
    base = min(maximum, max(minimum, interval))
    return PacingSpec(name, base, minimum, maximum, priority)


def _processors_changed(old: AgentConfig, new: AgentConfig) -> bool:
    # the resource processor's agent_attributes copies [resource] attributes
    return old.processors != new.processors or (
        bool(new.processors) and old.resource.attributes != new.resource.attributes
    )


def _sync(fn: Callable[[], object]) -> Undo:
    async def step() -> None:
        fn()

    return step


def admin_limits(cfg: AdminConfig) -> ServerLimits:
    """Admin requests are bodiless GETs: a tiny body cap, the configured head/time/connection limits."""
    return ServerLimits(
        max_header_bytes=int(cfg.max_header_bytes),
        max_body_bytes=1024,
        header_timeout=float(cfg.header_timeout),
        body_timeout=float(cfg.header_timeout),
        idle_timeout=float(cfg.idle_timeout),
        send_timeout=float(cfg.send_timeout),
        max_connections=cfg.max_connections,
    )


def _by_labels(counter: Any) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in counter.samples()]
