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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from edge_agent.config.load import LoadedConfig, PluginTypesFactory
from edge_agent.errors import EdgeAgentError
from edge_agent.fleet.apply import Loader, layer_of
from edge_agent.fleet.staging import COMMITTED, BootDecision, ConfigRecord, ConfigStore

log = logging.getLogger("edge_agent.fleet")


@dataclass(frozen=True)
class FleetBoot:
    loaded: LoadedConfig  # what the agent starts with
    store: ConfigStore
    decision: BootDecision
    running: ConfigRecord | None  # the committed remote config in effect, if it loaded
    problem: str = ""  # why the committed config is not in effect


def with_committed_layer(
    local: LoadedConfig, load: Callable[[Any], LoadedConfig], environ: Mapping[str, str]
) -> LoadedConfig:
    """``local`` plus the committed pushed config, read without side effects (``check-config``).

    ``load(extra_layer)`` loads all layers; a committed config that does not load is left out.
    """
    from edge_agent.runtime.agent import resolve_state_dir

    path = resolve_state_dir(local.config.agent.state_dir, dict(environ)) / "fleet" / COMMITTED
    try:
        record = ConfigRecord.decode(path.read_bytes())
    except FileNotFoundError:
        return local
    except (ValueError, KeyError, TypeError, EOFError, cbor2.CBORDecodeError) as exc:
        log.warning("fleet: %s is unreadable (%s); showing the local config", path, exc)
        return local
    try:
        return load(layer_of(record, local.config.fleet))
    except EdgeAgentError as exc:
        log.warning(
            "fleet: the last-known-good %s no longer loads (%s); showing the local config", record.label, exc
        )
        return local


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
