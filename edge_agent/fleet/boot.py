"""What config the agent starts with when the fleet is enabled.

The agent never waits for the fleet server to start: it runs the
last-known-good remote config (``committed.cbor``, see :mod:`.staging`) as
the fleet layer on top of its local files, whether the server is reachable
or not, and then connects. If that committed config no longer loads (a
local file or plugin changed underneath it since it was committed), the
agent starts on its local config alone and says so: an agent that does not
start cannot be fixed remotely.

Blocking (file I/O, config loading): called before the event loop starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config.load import LoadedConfig, PluginTypesFactory
from edge_agent.errors import EdgeAgentError
from edge_agent.fleet.apply import Loader, layer_of
from edge_agent.fleet.staging import BootDecision, ConfigRecord, ConfigStore

log = logging.getLogger("edge_agent.fleet")


@dataclass(frozen=True)
class FleetBoot:
    loaded: LoadedConfig  # what the agent starts with
    store: ConfigStore
    decision: BootDecision
    running: ConfigRecord | None  # the committed remote config in effect, if it loaded
    problem: str = ""  # why the committed config is not in effect


def boot(local: LoadedConfig, loader: Loader, state_dir: Path, plugin_types: PluginTypesFactory) -> FleetBoot:
    store = ConfigStore(state_dir)
    decision = store.boot()
    committed = decision.committed
    if committed is None:
        return FleetBoot(local, store, decision, None)
    try:
        loaded = loader(layer_of(committed, local.config.fleet), plugin_types)
    except EdgeAgentError as exc:
        problem = f"the last-known-good {committed.label} no longer loads ({exc}); running the local config"
        log.error("fleet: %s", problem)
        return FleetBoot(local, store, decision, None, problem)
    log.info("fleet: starting with the last-known-good %s", committed.label)
    return FleetBoot(loaded, store, decision, committed)
