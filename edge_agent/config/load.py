"""Layered config loading.

Layers, lowest first:

1. embedded defaults (``edge_agent/config/default.toml`` plus each
   dataclass field's default),
2. the device profile named by ``profile = "..."`` (``firmware_configs/``),
3. the main file (``--config``),
3b. the fleet layer: the last-known-good config pushed by the fleet server
   (``extra_layer``; :mod:`edge_agent.fleet.layering`),
4. ``conf.d/*.toml`` next to the main file, in sorted order,
5. environment variables ``EDGE_AGENT__SECTION__KEY``,
6. CLI flags (``--set section.key=value``).

String values of the form ``credential:NAME`` then resolve to files in
``$CREDENTIALS_DIRECTORY`` (:mod:`edge_agent.config.credentials`).

The ``profile`` key itself may be set by any layer above the profile; the
highest one wins, then the profile is slotted in below the main file.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, get_type_hints

from edge_agent.config.build import Provenance, build, check_unknown_keys, close_matches, convert
from edge_agent.config.credentials import resolve_credentials
from edge_agent.config.schema import PLUGIN_COMMON_KEYS, AgentConfig, PluginInstanceConfig
from edge_agent.config.sources import (
    Leaf,
    Tree,
    cli_layer,
    env_layer,
    get_leaf,
    is_empty_table,
    load_toml_file,
    load_toml_text,
    merge,
)
from edge_agent.errors import ConfigError, PluginError
from edge_agent.processors.config import build_processors, check_plugin_selection

DEFAULT_CONFIG_PATHS = (Path("/etc/edge-agent/agent.toml"),)


class PluginTypes(Protocol):
    """What the loader needs from the plugin registry."""

    def config_class(self, type_name: str) -> type: ...

    def names(self) -> Sequence[str]: ...


PluginTypesFactory = Callable[[tuple[str, ...]], PluginTypes]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and everything needed to explain where it came from."""

    config: AgentConfig
    tree: Tree
    provenance: Provenance
    files: tuple[str, ...]


def embedded_defaults() -> Tree:
    text = (Path(__file__).parent / "default.toml").read_text("utf-8")
    return load_toml_text(text, "embedded default.toml")


def _profiles_dir() -> Path:
    # Files next to the installed package; importlib.resources would cost ~0.1 MiB RSS
    # for the zip-import case, which this agent does not support.
    import importlib

    profiles = importlib.import_module("edge_agent_profiles")  # firmware_configs/, installed under this name
    return Path(str(profiles.__file__)).parent


def profile_path(name: str) -> Path:
    """Resolve a profile name (``raspberry-pi-4``) or path to its TOML file."""
    if "/" in name or name.endswith(".toml"):
        return Path(name)
    return _profiles_dir() / f"{name}.toml"


def available_profiles() -> list[str]:
    root = _profiles_dir()
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def load_config(
    *,
    main_path: Path | None,
    environ: Mapping[str, str],
    cli_sets: Sequence[str] = (),
    plugin_types: PluginTypesFactory,
    extra_layer: tuple[Tree, str] | None = None,
) -> LoadedConfig:
    """Load, merge and validate every layer; raise :class:`ConfigError` on the first problem.

    ``extra_layer`` (a tree and its name) sits right above the main file.
    """
    files: list[str] = []
    upper: Tree = {}
    if main_path is not None:
        upper = load_toml_file(main_path)
        files.append(str(main_path))
    if extra_layer is not None:
        upper = merge(upper, extra_layer[0])
        files.append(extra_layer[1])
    if main_path is not None:
        for dropin in sorted((main_path.parent / "conf.d").glob("*.toml")):
            upper = merge(upper, load_toml_file(dropin))
            files.append(str(dropin))
    upper = merge(upper, env_layer(environ))
    upper = merge(upper, cli_layer(list(cli_sets)))

    tree = embedded_defaults()
    profile_leaf = get_leaf(upper, "profile")
    if profile_leaf is not None and profile_leaf.value:
        tree = merge(tree, _load_profile(profile_leaf))
        files.insert(0, str(profile_path(str(profile_leaf.value))))
    tree = merge(tree, upper)
    tree = resolve_credentials(tree, environ)  # "credential:NAME" -> $CREDENTIALS_DIRECTORY/NAME
    config, provenance = build_config(tree, plugin_types)
    return LoadedConfig(config, tree, provenance, tuple(files))


def _load_profile(leaf: Leaf) -> Tree:
    name = leaf.value
    if not isinstance(name, str):
        raise ConfigError("expected a profile name", key="profile", origin=leaf.origin)
    path = profile_path(name)
    if not path.is_file():
        known = available_profiles()
        hint = close_matches(name, known)
        extra = f"; did you mean {hint[0]!r}?" if hint else f"; available: {', '.join(known)}"
        raise ConfigError(f"unknown device profile {name!r}{extra}", key="profile", origin=leaf.origin)
    tree = load_toml_file(path, f"profile {name} ({path.name})")
    if "profile" in tree:
        raise ConfigError("a device profile must not select another profile", key="profile", origin=str(path))
    return tree


def build_config(tree: Tree, plugin_types: PluginTypesFactory) -> tuple[AgentConfig, Provenance]:
    """Build :class:`AgentConfig`; plugin tables are validated against the plugin registry,
    which is created only once ``agent.plugin_dirs`` is known."""
    provenance = Provenance()
    plugins_node = tree.get("plugins", {})
    if is_empty_table(plugins_node):
        plugins_node = {}
    rest = {k: v for k, v in tree.items() if k not in ("plugins", "processors")}
    config = build(AgentConfig, rest, provenance=provenance)
    types = plugin_types(config.agent.plugin_dirs)
    if isinstance(plugins_node, Leaf):
        raise ConfigError("expected a table of plugin instances", key="plugins", origin=plugins_node.origin)
    instances = tuple(_build_plugin(name, node, types, provenance) for name, node in plugins_node.items())
    processors = build_processors(tree.get("processors"), provenance)
    check_plugin_selection(processors, tuple(i.name for i in instances), provenance)
    return dataclasses.replace(config, plugins=instances, processors=processors), provenance


def _build_plugin(
    name: str, node: Tree | Leaf, plugin_types: PluginTypes, provenance: Provenance
) -> PluginInstanceConfig:
    path = f"plugins.{name}"
    if is_empty_table(node):
        node = {}
    if isinstance(node, Leaf):
        raise ConfigError(f"expected a table [plugins.{name}]", key=path, origin=node.origin)
    type_leaf = node.get("type")
    type_name = type_leaf.value if isinstance(type_leaf, Leaf) else name
    type_origin = type_leaf.origin if isinstance(type_leaf, Leaf) else "default (the instance name)"
    try:
        config_class = plugin_types.config_class(type_name)
    except PluginError as exc:
        hint = close_matches(str(type_name), plugin_types.names())
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(f"{exc}{extra}", key=f"{path}.type", origin=type_origin) from None
    provenance[f"{path}.type"] = type_origin or "default"
    own_keys = [f.name for f in dataclasses.fields(config_class)]
    check_unknown_keys(node, [*PLUGIN_COMMON_KEYS, *own_keys], path)
    common: dict[str, object] = {}
    for key in PLUGIN_COMMON_KEYS[1:]:
        if key in node:
            common[key] = convert(_plugin_hints()[key], node[key], f"{path}.{key}", provenance)
    _check_interval_bounds(path, node, common)
    settings_tree = {k: v for k, v in node.items() if k not in PLUGIN_COMMON_KEYS}
    settings: object = build(config_class, settings_tree, path=path, provenance=provenance)
    return PluginInstanceConfig(name=name, type=type_name, settings=settings, **common)  # type: ignore[arg-type]


def _check_interval_bounds(path: str, node: Tree, common: dict[str, object]) -> None:
    """``min_interval <= interval <= max_interval`` for the keys that are set."""
    for key in ("interval", "min_interval", "max_interval"):
        value = common.get(key)
        if value is not None and not value:
            leaf = node[key]
            origin = leaf.origin if isinstance(leaf, Leaf) else ""
            raise ConfigError("must be greater than 0", key=f"{path}.{key}", origin=origin)
    keys = ("min_interval", "interval", "max_interval")
    bounds = [(k, float(v)) for k in keys if isinstance(v := common.get(k), float)]
    for (low_key, low), (high_key, high) in itertools.pairwise(bounds):
        if low > high:
            leaf = node[high_key]
            raise ConfigError(
                f"must be at least {low_key} ({low:g}s), got {high:g}s; "
                "the adaptive interval stays within [min_interval, max_interval]",
                key=f"{path}.{high_key}",
                origin=leaf.origin if isinstance(leaf, Leaf) else "",
            )


@functools.cache
def _plugin_hints() -> dict[str, Any]:
    return get_type_hints(PluginInstanceConfig)


def _origin_of(node: Tree) -> str:
    for value in node.values():
        if isinstance(value, Leaf):
            return value.origin
    return ""
