"""An agent with its fleet client, in process, against the fleet server tool on loopback."""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.export.exporter import Connector
from edge_agent.export.http import Endpoint
from edge_agent.fleet.boot import boot
from edge_agent.fleet.service import FleetService
from edge_agent.fleet.signing import CONFIG_NAME, SIGNATURE_NAME, generate_keypair, sign_config
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink
from tests.agent_harness import PLUGIN_DIR, memory_connector
from tools.fleetlib import TOML, FleetServer
from tools.fleetstate import FleetState


class FleetKeys:
    """A fleet signing key pair in ``directory`` (fleet.key 0600, fleet.pub)."""

    def __init__(self, directory: Path) -> None:
        private, public = generate_keypair()
        self.private_file = directory / "fleet.key"
        self.public_file = directory / "fleet.pub"
        self.private_file.write_bytes(private)
        self.private_file.chmod(0o600)
        self.public_file.write_bytes(public)
        self.private = private

    def files(self, toml: str, *, version: int) -> dict[str, tuple[bytes, str]]:
        """A signed config map for ``toml``."""
        body = toml.encode()
        return {
            CONFIG_NAME: (body, TOML),
            SIGNATURE_NAME: (sign_config(self.private, body, version=version), TOML),
        }


def local_toml(
    state_dir: Path, endpoint: str, keys: FleetKeys, *, body: str = "", fleet_extra: str = ""
) -> str:
    """A device's local config: no host metrics, one aseqlogs instance, fleet on."""
    return f"""
[agent]
state_dir = "{state_dir}"
plugin_dirs = ["{PLUGIN_DIR}"]
shutdown_grace = "2s"

[admin]
enabled = false

[self_telemetry]
enabled = false

[exporter]
endpoint = "http://localhost:4318"  # the memory connector ignores the host

[plugins.hostmetrics]
enabled = false

[plugins.base]
type = "aseqlogs"
interval = "1s"
tag = "local"

[fleet]
enabled = true
endpoint = "{endpoint}"
public_key_file = "{keys.public_file}"
poll_interval = "2s"
poll_jitter = 0.0
health_window = "3s"
{fleet_extra}
{body}
"""


DOWN_HOST = "127.0.0.9"  # loopback, so plain http is allowed; the connector refuses it


def refusing(connect: Connector, host: str = DOWN_HOST) -> Connector:
    """``connect``, except that ``host`` refuses connections (an upstream that is down)."""

    async def refuse_or_connect(endpoint: Endpoint) -> trio.abc.Stream:
        if endpoint.host == host:
            raise OSError(errno.ECONNREFUSED, "Connection refused")
        return await connect(endpoint)

    return refuse_or_connect


def loader_for(path: Path) -> Callable[..., LoadedConfig]:
    def load(extra_layer: Any, plugin_types: Any) -> LoadedConfig:
        return load_config(main_path=path, environ={}, plugin_types=plugin_types, extra_layer=extra_layer)

    return load


class FleetHarness:
    def __init__(self, tmp_path: Path, nursery: trio.Nursery) -> None:
        self.tmp = tmp_path
        self.nursery = nursery
        self.state = tmp_path / "state"
        self.config = tmp_path / "agent.toml"
        self.keys = FleetKeys(tmp_path)
        self.server = FleetServer(FleetState(heartbeat_interval=1))
        self.sink = OtlpSink()
        self.agent: Agent | None = None
        self.service: FleetService | None = None

    async def start_server(self) -> None:
        await self.nursery.start(self.server.serve)

    async def start_agent(
        self, *, fleet_extra: str = "", body: str = "", endpoint: str | None = None
    ) -> Agent:
        self.config.write_text(
            local_toml(
                self.state, endpoint or self.server.endpoint, self.keys, body=body, fleet_extra=fleet_extra
            )
        )
        loader = loader_for(self.config)
        local = loader(None, PluginRegistry.for_config)
        started = boot(local, loader, self.state, PluginRegistry.for_config)
        config = started.loaded.config
        registry = PluginRegistry.for_config(config.agent.plugin_dirs)
        agent = Agent(
            config,
            registry,
            state_dir=self.state,
            connect=refusing(memory_connector(self.sink, self.nursery)),
            config_files=started.loaded.files,
        )
        self.agent = agent
        self.service = FleetService(started, loader, self.state)
        self.done = trio.Event()

        async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await agent.run(task_status=task_status)
            self.done.set()

        await self.nursery.start(run)
        self.fleet_scope = trio.CancelScope()

        async def fleet(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            assert self.service is not None
            with self.fleet_scope:
                await self.service.run(agent, task_status=task_status)

        await self.nursery.start(fleet)
        return agent

    async def stop_agent(self) -> None:
        assert self.agent is not None
        self.fleet_scope.cancel()
        self.agent.request_stop()
        await self.done.wait()

    def agent_state(self) -> Any:
        assert self.service is not None and self.service.core is not None
        return self.server.state.agents.get(self.service.core.instance_uid)

    async def wait_status(self, status: str, config_hash: bytes) -> Any:
        """Wait until the server saw this remote-config status for this hash; returns the agent state."""
        from edge_agent.fleet import messages as m

        code = {v: k for k, v in m.STATUS_NAMES.items()}[status]

        def seen(state: Any) -> bool:
            agent = self.agent_state()
            return agent is not None and agent.remote_hash == config_hash and agent.remote_status == code

        await self.server.wait_until(seen)
        return self.agent_state()

    def push(self, toml: str, *, version: int) -> bytes:
        agents = list(self.server.state.agents.values())
        assert agents, "no agent has reported yet"
        return self.server.state.push(agents, self.keys.files(toml, version=version)).config_hash


def plugin_tags(agent: Agent) -> dict[str, str]:
    return {p.name: getattr(p.settings, "tag", "") for p in agent.config.plugins}


partial = functools.partial
