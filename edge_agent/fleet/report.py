"""What the agent tells the fleet server about itself, built fresh (and cheaply) before every message.

The description and the effective config change only when the running
config does, so they are cached by the identity of the config objects (not
by ``id()``, which a freed object's successor may reuse); the health tree is
read from the pipeline every time (a few microseconds). The protocol core
then decides what of it is news.
"""

from __future__ import annotations

import platform
import socket
from typing import Any

from edge_agent._version import __version__
from edge_agent.config.load import LoadedConfig
from edge_agent.fleet import effective
from edge_agent.fleet import messages as m
from edge_agent.fleet.config import FleetConfig
from edge_agent.fleet.health import component_health, snapshot
from edge_agent.fleet.protocol import Report


class ReportBuilder:
    def __init__(self, fleet: FleetConfig) -> None:
        self.fleet = fleet
        self._description: tuple[object, m.AgentDescription] | None = None
        self._effective: tuple[object, object, m.EffectiveConfig] | None = None

    def description(self, agent: Any) -> m.AgentDescription:
        """Who and where the agent is: service identity, host, profile and fleet labels."""
        if self._description is not None and self._description[0] is agent.config:
            return self._description[1]
        identifying = {
            "service.name": "edge-agent",
            "service.version": __version__,
            "service.instance.id": agent.device_id or "",
        }
        described: dict[str, str | int | bool] = {
            "host.name": socket.gethostname(),
            "host.arch": platform.machine(),
            "os.type": platform.system().lower(),
            "edge_agent.profile": agent.config.profile or "",
        }
        described.update({f"fleet.label.{k}": v for k, v in self.fleet.labels.items()})
        description = m.AgentDescription(
            identifying_attributes=m.key_values(identifying),
            non_identifying_attributes=m.key_values(described),
        )
        self._description = (agent.config, description)
        return description

    def effective_config(self, agent: Any, loaded: LoadedConfig) -> m.EffectiveConfig:
        """The running config as redacted TOML with origins (the provenance comes from ``loaded``)."""
        cache = self._effective
        if cache is None or cache[0] is not agent.config or cache[1] is not loaded:
            body, _ = effective.render(agent.config, loaded.provenance)
            cache = self._effective = (agent.config, loaded, effective.message(body))
        return cache[2]

    def build(
        self,
        agent: Any,
        loaded: LoadedConfig,
        *,
        remote_status: m.RemoteConfigStatus | None,
        connection_status: m.ConnectionSettingsStatus | None,
        csr: bytes,
    ) -> Report:
        return Report(
            description=self.description(agent),
            health=component_health(snapshot(agent)),
            effective_config=self.effective_config(agent, loaded),
            remote_config_status=remote_status,
            connection_settings_status=connection_status,
            csr=csr,
        )
