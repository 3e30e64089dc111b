"""Glue for ``edge-agent run``: boot with the last-known-good config, then build the fleet client.

Kept apart from ``cli_run`` so the command stays readable and this module
(with the generated protobuf classes) is imported only when ``[fleet]
enabled = true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edge_agent.config.load import LoadedConfig
from edge_agent.errors import ConfigError
from edge_agent.fleet.apply import Loader
from edge_agent.fleet.boot import boot
from edge_agent.fleet.service import FleetService
from edge_agent.fleet.transport import Connector, opamp_endpoint, open_tcp
from edge_agent.runtime.discovery import PluginRegistry


def fleet_connector(loaded: LoadedConfig, environ: Mapping[str, str]) -> Connector:
    """How the client connects: TCP for http://, the exporter's TLS stack for https://."""
    endpoint = opamp_endpoint(loaded.config.fleet.endpoint)
    if endpoint.scheme == "https":
        raise ConfigError(
            "https:// fleet endpoints need the TLS client stack of the exporter, which this build lacks",
            key="fleet.endpoint",
        )
    return open_tcp


def start_fleet(
    local: LoadedConfig, loader: Loader, state_dir: Path, environ: Mapping[str, str]
) -> tuple[LoadedConfig, FleetService]:
    """The config to start with (last-known-good remote layer applied) and the fleet client task."""
    started = boot(local, loader, state_dir, PluginRegistry.for_config)
    service = FleetService(
        started, loader, state_dir, connect=fleet_connector(started.loaded, environ), environ=environ
    )
    return started.loaded, service
