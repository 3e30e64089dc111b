"""Where a pushed config sits among the config layers, and what it may not say.

Layers, lowest first (``edge_agent.config.load``): embedded defaults, the
device profile, the device's main file, **the fleet layer**, ``conf.d``
drop-ins, ``EDGE_AGENT__*`` environment, ``--set`` flags. The pushed
``agent.toml`` therefore overrides the main file table by table, and
everything installed on the device itself (drop-ins, the unit's
environment, command-line flags) still overrides the fleet: a device-local
fix always wins, and the effective config reported back shows it.

A pushed config may not set (documented rule, docs/fleet.md):

* anything in ``[fleet]``: the server endpoint, the public key that
  verifies configs, TLS and headers stay local, so a push can never move a
  device to another server or make it trust another key;
* ``agent.state_dir`` (where the last-known-good config itself lives);
* ``agent.plugin_dirs`` (loading code from new directories is code
  execution);
* a plugin whose type is in the local ``fleet.remote_denied_plugin_types``
  (default: ``exec``, which runs commands);
* a device profile by path (``profile = "/some/file.toml"``): only the
  packaged profiles may be named, so a push cannot pull in a local file.

Whatever layer a value comes through, the applied config must end up with
the same ``agent.state_dir``, ``agent.plugin_dirs`` and ``[fleet]`` trust
settings (endpoint, key, headers, TLS, labels, certificate and plugin-type
rules) as the local config alone: :func:`check_unchanged_local_keys` is
that final check, made on the fully loaded config. Only the fleet *timing*
keys (``FLEET_TUNING``) may differ, when a packaged profile the push selects
sets them (the cellular profile polls every 15 minutes).

A refused config changes nothing; the error names the key and the line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from edge_agent.config.schema import AgentConfig
from edge_agent.config.sources import Leaf, Tree, is_empty_table, load_toml_text
from edge_agent.errors import ConfigError

# fleet keys a packaged profile selected by a push may change (timing only, never trust)
FLEET_TUNING = ("poll_interval", "poll_jitter", "timeout", "health_window", "compression", "renew_before")

FORBIDDEN = {
    "fleet": "fleet settings (server endpoint, public key, TLS, headers) come only from the local config",
    "agent.state_dir": "the state directory holds the last-known-good config and is set locally",
    "agent.plugin_dirs": "loading plugins from new directories would run new code; set plugin_dirs locally",
}


def remote_layer(text: str, origin: str, *, denied_plugin_types: Iterable[str] = ()) -> Tree:
    """Parse a pushed ``agent.toml`` into a config layer; raise :class:`ConfigError` if it breaks a rule."""
    tree = load_toml_text(text, origin)
    for dotted, why in FORBIDDEN.items():
        node = _find(tree, dotted)
        if node is not None:
            raise ConfigError(
                f"a pushed config may not set this: {why}", key=dotted, origin=_origin(node, origin)
            )
    _check_plugin_types(tree, frozenset(denied_plugin_types), origin)
    profile = tree.get("profile")
    if (
        isinstance(profile, Leaf)
        and isinstance(profile.value, str)
        and ("/" in profile.value or profile.value.endswith(".toml"))
    ):
        raise ConfigError(
            "a pushed config may select a packaged device profile by name only, not a file",
            key="profile",
            origin=profile.origin,
        )
    return tree


def check_unchanged_local_keys(pushed: AgentConfig, local: AgentConfig, origin: str) -> None:
    """Refuse a loaded config whose fleet trust settings, state_dir or plugin_dirs differ from local."""
    tuned = dataclasses.replace(pushed.fleet, **{k: getattr(local.fleet, k) for k in FLEET_TUNING})
    for key, mine, theirs in (
        ("fleet", local.fleet, tuned),
        ("agent.state_dir", local.agent.state_dir, pushed.agent.state_dir),
        ("agent.plugin_dirs", local.agent.plugin_dirs, pushed.agent.plugin_dirs),
    ):
        if mine != theirs:
            raise ConfigError(
                f"a pushed config may not change this: {FORBIDDEN[key]}", key=key, origin=origin
            )


def _find(tree: Tree, dotted: str) -> Tree | Leaf | None:
    node: Tree | Leaf = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _origin(node: Tree | Leaf, fallback: str) -> str:
    if isinstance(node, Leaf):
        return node.origin
    for child in node.values():
        return _origin(child, fallback)
    return fallback


def _check_plugin_types(tree: Tree, denied: frozenset[str], origin: str) -> None:
    plugins = tree.get("plugins")
    if not isinstance(plugins, dict) or not denied:
        return
    for name, node in plugins.items():
        if is_empty_table(node) or isinstance(node, Leaf):
            type_name, where = name, origin
        else:
            type_leaf = node.get("type")
            type_name = type_leaf.value if isinstance(type_leaf, Leaf) else name
            where = type_leaf.origin if isinstance(type_leaf, Leaf) else _origin(node, origin)
        if type_name in denied:
            raise ConfigError(
                f"plugin type {type_name!r} may not be pushed by the fleet "
                "(fleet.remote_denied_plugin_types); configure it in the device's local config instead",
                key=f"plugins.{name}.type",
                origin=where,
            )
