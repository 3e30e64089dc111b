"""The agent: builds the pipeline from a validated config and runs it.

Nursery tree::

    core nursery:   exporter, admin endpoint
      sources nursery: one supervised task per plugin instance, self-telemetry

``run`` reports started once every stage is up (that is when the agent is
ready). :meth:`Agent.request_stop` begins an orderly shutdown: the sources
are cancelled first, then the buffer and exporter get ``shutdown_grace`` to
drain before the core is cancelled.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio

from edge_agent._version import __version__
from edge_agent.admin.config import AdminConfig, parse_host_port
from edge_agent.admin.endpoint import AdminEndpoint
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.config.schema import AgentConfig, PluginInstanceConfig
from edge_agent.config.secrets import check_secret_files
from edge_agent.errors import EdgeAgentError
from edge_agent.export.exporter import Connector, Exporter, ExportStatus, open_tcp
from edge_agent.httpserver import HttpServer, ServerLimits
from edge_agent.otlp import attributes
from edge_agent.plugin_api import Plugin, Receiver
from edge_agent.processors.factory import build_chain
from edge_agent.processors.stage import ProcessorCounters, ProcessorStage
from edge_agent.runtime.clock import AgentClock
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.resource import host_resource, new_device_id
from edge_agent.runtime.selftelemetry import SelfTelemetry
from edge_agent.runtime.state import CborStateStore, ensure_private_dir, write_atomic
from edge_agent.runtime.supervisor import PluginRunner, PluginStatus
from edge_agent.security.secrets import read_secret_line

log = logging.getLogger("edge_agent.agent")

ADMIN_ADDRESS_FILE = "admin.addr"


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
    state: str = "starting"  # starting | running | draining | stopped
    started_unix: float = 0.0


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
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.registry = registry
        self.state_dir = state_dir
        self.clock = clock or AgentClock()
        self.config_files = config_files
        self.instruments = AgentInstruments.create()
        self.buffer = MemoryBuffer(config.buffer.max_memory_bytes, self.instruments.dropped)
        self.instruments.register_queue(self.buffer.queued_bytes, self.buffer.queued_records)
        self.pipeline = Pipeline(self.buffer, self.instruments.pipeline)
        self.processor_counters = ProcessorCounters.register(
            self.instruments.registry, self.instruments.dropped
        )
        self.export_status = ExportStatus(endpoint=config.exporter.endpoint)
        self.exporter = Exporter(
            config.exporter, self.buffer, self.instruments.export, self.export_status, connect=connect
        )
        self.plugin_statuses: list[PluginStatus] = []
        self.admin_address: tuple[str, int] | None = None
        self._stage = _Stage()
        self._stop = trio.Event()
        self.device_id = ""

    # -- lifecycle ---------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # secret files first: a world-readable key must stop the start before anything listens
        await trio.to_thread.run_sync(check_secret_files, self.config, self.environ)
        ensure_private_dir(self.state_dir)
        await self._install_processors()
        agent_state = CborStateStore(self.state_dir / "agent.cbor")
        self.device_id = await self._device_id(agent_state)
        resource = attributes.resource(host_resource(self.device_id, self.config.resource.attributes))
        runners = [self._runner(inst, resource) for inst in self.config.plugins if inst.enabled]
        if self.config.self_telemetry.enabled:
            runners.append(self._self_telemetry_runner(resource))
        self._stage.started_unix = time.time()
        async with trio.open_nursery() as core:
            await core.start(self.exporter.run)
            if self.config.admin.enabled:
                await core.start(self._serve_admin)
            async with trio.open_nursery() as sources:
                for runner in runners:
                    await sources.start(runner.run)
                self._stage.state = "running"
                log.info(
                    "edge-agent %s running: %d plugin(s), exporting to %s",
                    __version__,
                    len(runners),
                    self.config.exporter.endpoint,
                )
                task_status.started()
                await self._stop.wait()
                sources.cancel_scope.cancel()
            self._stage.state = "draining"
            await self._drain()
            core.cancel_scope.cancel()
        self._stage.state = "stopped"

    async def _drain(self) -> None:
        grace = self.config.agent.shutdown_grace
        with trio.move_on_after(grace):
            await self.buffer.wait_drained()
        left = self.buffer.queued_records()
        if any(left.values()):
            lost = ", ".join(f"{n} {s}" for s, n in left.items() if n)
            log.warning("shutting down with undelivered records held in memory (%s): they are lost", lost)

    async def _device_id(self, store: CborStateStore) -> str:
        device_id = store.get("device_id")
        if not isinstance(device_id, str) or not device_id:
            device_id = new_device_id()
            await store.put("device_id", device_id)
        return device_id

    async def _install_processors(self) -> None:
        """Build the processor chain (reads key and value files: in a thread) and put it in the pipeline."""
        chain = await trio.to_thread.run_sync(
            partial(
                build_chain,
                self.config.processors,
                environ=self.environ,
                agent_attributes=self.config.resource.attributes,
            )
        )
        self.pipeline.set_processors(
            None if chain is None else ProcessorStage(chain, self.processor_counters)
        )
        if chain is not None:
            log.info("processors: %s", ", ".join(chain.names()))

    # -- plugins -----------------------------------------------------------

    def _runner(self, inst: PluginInstanceConfig, resource: bytes) -> PluginRunner:
        spec = self.registry.get(inst.type)
        plugin: Plugin[Any] = spec.cls(inst.settings)
        priority = inst.priority if inst.priority is not None else spec.cls.default_priority
        default_interval: float = getattr(spec.cls, "default_interval", 10.0)
        interval = float(inst.interval or default_interval)
        jitter = inst.jitter if inst.jitter is not None else 0.0
        return self._make_runner(plugin, inst.name, inst.type, priority, interval, jitter, resource)

    def _self_telemetry_runner(self, resource: bytes) -> PluginRunner:
        plugin = SelfTelemetry(self.instruments.registry)
        interval = self.config.self_telemetry.interval
        return self._make_runner(
            plugin, plugin.name, plugin.name, plugin.default_priority, interval, 0.0, resource
        )

    def _make_runner(
        self,
        plugin: Plugin[Any],
        name: str,
        type_name: str,
        priority: Any,
        interval: float,
        jitter: float,
        resource: bytes,
    ) -> PluginRunner:
        plugins_dir = ensure_private_dir(self.state_dir / "plugins")
        ctx = RuntimeContext(
            name=name,
            priority=priority,
            pipeline=self.pipeline,
            state=CborStateStore(plugins_dir / f"{name}.cbor"),
            clock=self.clock,
            resource=resource,
            scope=attributes.scope(f"edge_agent.{type_name}", getattr(plugin, "version", "")),
            start_time_ns=self.clock.time_ns(),
            events=self.instruments.plugins.events,
        )
        status = PluginStatus(name=name, type=type_name, kind=plugin.kind)
        self.plugin_statuses.append(status)
        runner = PluginRunner(plugin, ctx, status, self.instruments.plugins, interval=interval, jitter=jitter)
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
                    environ=self.environ,
                )
            )
        refused = self.instruments.registry.counter(
            "admin.refused", "admin endpoint requests and connections refused", labels=("reason",)
        )

        def count_refusal(reason: str) -> None:
            refused.inc(reason=reason)

        endpoint = AdminEndpoint(
            self.instruments.registry, self.status, self.readiness, token=token, refused=count_refusal
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
            "pipeline": {"state": self._stage.state},
            "plugins": [s.as_dict() for s in self.plugin_statuses],
            "queue": {
                "kind": "memory",
                "bytes": self.buffer.queued_bytes(),
                "max_bytes": self.buffer.max_bytes,
                "records": self.buffer.queued_records(),
            },
            "export": {
                **self.export_status.as_dict(),
                "exported": {s["signal"]: v for s, v in _by_labels(self.instruments.export.exported)},
                "dropped": [{**labels, "records": v} for labels, v in _by_labels(dropped)],
            },
        }


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
