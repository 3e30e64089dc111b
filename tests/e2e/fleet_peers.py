"""A fleet server, a counting OTLP sink and real ``edge-agent run`` subprocesses, for fleet e2e tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import trio

from edge_agent.config.load import load_config
from edge_agent.fleet import effective
from edge_agent.fleet import messages as m
from edge_agent.fleet.layering import remote_layer
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink
from tests.agent_harness import PLUGIN_DIR, AgentProcess, log_records
from tests.fleet.harness import FleetKeys
from tools.fleetlib import FleetServer
from tools.fleetstate import AgentState, FleetState

STATUS = {v: k for k, v in m.STATUS_NAMES.items()}


def pushed_config(tag: str, *, extra: str = "") -> str:
    """A config the fleet pushes: retags the base instance and adds one."""
    return f'[plugins.base]\ntag = "{tag}"\n\n[plugins.pushed]\ntype = "aseqlogs"\ninterval = "200ms"\ntag = "{tag}"\n{extra}'


class FleetRig:
    def __init__(self, tmp_path: Path, nursery: trio.Nursery, *, ssl_context: Any = None) -> None:
        self.tmp = tmp_path
        self.nursery = nursery
        self.state_dir = tmp_path / "state"
        self.config = tmp_path / "agent.toml"
        self.keys = FleetKeys(tmp_path)
        self.server = FleetServer(FleetState(heartbeat_interval=1), ssl_context=ssl_context)
        self.sink = OtlpSink()
        self.server_scope = trio.CancelScope()

    async def start(self) -> None:
        await self.nursery.start(self.sink.serve)
        await self.start_server()

    async def start_server(self) -> None:
        async def serve(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with self.server_scope:
                await self.server.serve(task_status=task_status)

        self.server_scope = trio.CancelScope()
        await self.nursery.start(serve)

    def stop_server(self) -> None:
        self.server_scope.cancel()

    def write_config(
        self,
        *,
        health_window: str = "2s",
        fleet_endpoint: str | None = None,
        extra: str = "",
        exporter: str | None = None,
        admin: bool = False,
    ) -> None:
        exporter = exporter or f'endpoint = "{self.sink.endpoint}"'
        admin_table = 'endpoint = "127.0.0.1:0"' if admin else "enabled = false"
        self.config.write_text(
            f"""
[agent]
state_dir = "{self.state_dir}"
plugin_dirs = ["{PLUGIN_DIR}"]
shutdown_grace = "2s"

[admin]
{admin_table}

[self_telemetry]
enabled = false

[exporter]
{exporter}
retry_on_failure.initial_interval = "200ms"
retry_on_failure.max_interval = "1s"

[plugins.hostmetrics]
enabled = false

[plugins.base]
type = "aseqlogs"
interval = "200ms"
tag = "local"

[fleet]
enabled = true
endpoint = "{fleet_endpoint or self.server.endpoint}"
public_key_file = "{self.keys.public_file}"
poll_interval = "1s"
health_window = "{health_window}"
{extra}
"""
        )

    async def start_agent(self) -> AgentProcess:
        return await AgentProcess.start(self.nursery, self.config, {})

    def agent(self) -> AgentState | None:
        agents = list(self.server.state.agents.values())
        return agents[0] if agents else None

    async def wait_reported(self) -> AgentState:
        """Wait until the agent reported its health and effective config."""
        await self.server.wait_until(
            lambda s: (a := self.agent()) is not None and a.health is not None and a.effective_body
        )
        agent = self.agent()
        assert agent is not None
        return agent

    def push(self, toml: str, *, version: int, keys: FleetKeys | None = None) -> bytes:
        agents = list(self.server.state.agents.values())
        return self.server.state.push(agents, (keys or self.keys).files(toml, version=version)).config_hash

    async def wait_status(self, status: str, config_hash: bytes) -> AgentState:
        code = STATUS[status]
        await self.server.wait_until(
            lambda s: (
                (a := self.agent()) is not None and a.remote_hash == config_hash and a.remote_status == code
            )
        )
        agent = self.agent()
        assert agent is not None
        return agent

    async def wait_effective(self, settings_hash: str) -> None:
        """Wait until the reported effective config has these settings."""
        await self.server.wait_until(
            lambda s: (
                (a := self.agent()) is not None and effective.settings_hash(a.effective_body) == settings_hash
            )
        )

    def expected_hash(self, pushed: str | None) -> str:
        """The settings hash of the local config with ``pushed`` as the fleet layer (None: local only)."""
        layer = (remote_layer(pushed, "fleet config"), "fleet config") if pushed is not None else None
        loaded = load_config(
            main_path=self.config, environ={}, plugin_types=PluginRegistry.for_config, extra_layer=layer
        )
        return effective.render(loaded.config, loaded.provenance)[1]

    def tags(self) -> Counter[str]:
        return Counter(str(attrs.get("tag")) for attrs in log_records(self.sink))

    async def wait_tag(self, tag: str, more: int) -> None:
        """Wait until ``more`` records with ``tag`` arrived on top of those already counted."""
        target = self.tags()[tag] + more
        while self.tags()[tag] < target:
            await self.sink.wait_for(Signal.LOGS, self.sink.records[Signal.LOGS] + 1)
