"""Glue for ``edge-agent run``: boot with the last-known-good config, then build the fleet client.

Kept apart from ``cli_run`` so the command stays readable and this module
(with the generated protobuf classes) is imported only when ``[fleet]
enabled = true``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from edge_agent.config.load import LoadedConfig
from edge_agent.fleet.apply import Loader
from edge_agent.fleet.boot import boot
from edge_agent.fleet.rotation import recover
from edge_agent.fleet.service import FleetService
from edge_agent.fleet.tlswire import FleetTls
from edge_agent.runtime.discovery import PluginRegistry

log = logging.getLogger("edge_agent.fleet")


def start_fleet(
    local: LoadedConfig, loader: Loader, state_dir: Path, environ: Mapping[str, str]
) -> tuple[LoadedConfig, FleetService]:
    """The config to start with (last-known-good remote layer applied) and the fleet client task.

    A certificate rotation cut short by a crash is finished (or dropped) first: nothing has
    loaded the certificate files yet.
    """
    note = recover(state_dir)
    if note:
        log.warning("fleet: %s", note)
    started = boot(local, loader, state_dir, PluginRegistry.for_config)
    tls = FleetTls(started.loaded.config, environ)
    return started.loaded, FleetService(started, loader, state_dir, environ=environ, tls=tls)
