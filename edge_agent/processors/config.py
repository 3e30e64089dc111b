"""Configuration of processors: ``[processors.<name>]`` tables, one per processor instance.

Like plugins, each table names its ``type`` (default: the table name) and
carries common keys plus the type's own settings::

    [processors.scrub]
    type = "redact"
    signals = ["logs", "traces"]      # default: every signal the type handles
    plugins = ["otlp", "filelog*"]    # plugin instance names or globs; default: all
    presets = ["pii", "secrets"]

Processors run in the order their tables appear in the merged config:
embedded defaults, the device profile, the main file, ``conf.d`` files in
sorted order, then environment and ``--set`` (a table first defined in a
later layer comes after those defined earlier). ``check-config`` prints the
effective order. This is the OpenTelemetry Collector's model folded into
one pipeline per signal: ``signals`` picks the pipelines a processor is in,
``plugins`` the receivers whose data it sees.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from edge_agent.config.build import Provenance, build, check_unknown_keys, close_matches, convert
from edge_agent.config.sources import Leaf, Tree, is_empty_table
from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Signal
from edge_agent.processors.api import SELF_TELEMETRY
from edge_agent.processors.checks import check_scalars, criteria_signals, parse_severity
from edge_agent.processors.presets import Rule, expand

PROCESSOR_COMMON_KEYS = ("type", "enabled", "signals", "plugins")


def _check_plugins(globs: tuple[str, ...]) -> None:
    if not globs:
        raise ValueError('must name at least one plugin instance or glob (default ["*"] selects all)')


@dataclass(frozen=True)
class ProcessorInstanceConfig:
    """One ``[processors.<name>]`` table."""

    name: str
    type: str
    enabled: bool = field(default=True, metadata={"help": "run this processor"})
    signals: tuple[Signal, ...] = field(
        default=tuple(Signal), metadata={"help": "signals it applies to: traces, metrics, logs"}
    )
    plugins: tuple[str, ...] = field(
        default=("*",),
        metadata={"help": "plugin instances (names or globs) whose data it sees", "check": _check_plugins},
    )
    settings: Any = None


# -- per-type settings ---------------------------------------------------------


@dataclass(frozen=True)
class RedactConfig:
    """``type = "redact"``: mask or hash sensitive values."""

    keys: tuple[str, ...] = field(
        default=(),
        metadata={"help": "attribute keys (globs, case-insensitive) whose whole value is redacted"},
    )
    presets: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "shipped patterns: email, ipv4, ... or the groups pii, secrets, all",
            "check": expand,
        },
    )
    patterns: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "your own regular expressions, name = regex; (?P<secret>...) limits what is replaced"
        },
    )
    allow_keys: tuple[str, ...] = field(
        default=(), metadata={"help": "attribute keys (globs) never redacted, e.g. service.name"}
    )
    action: Literal["mask", "hash"] = field(
        default="mask", metadata={"help": "replace with the mask text, or with a keyed hash"}
    )
    replacement: str = field(
        default="",
        metadata={"help": 'replacement text; {rule} and {hash} expand; default "****" or "{rule}:{hash}"'},
    )
    hash_key_file: str = field(
        default="",
        metadata={
            "help": "file holding the hash key (16+ bytes, mode 0600); required for hash",
            "secret_file": True,
        },
    )
    hash_algorithm: Literal["hmac-sha256", "blake2b"] = field(
        default="hmac-sha256", metadata={"help": "keyed hash: hmac-sha256 or blake2b"}
    )
    hash_length: int = field(default=16, metadata={"help": "hex digits of the hash kept (8-64)"})

    def __post_init__(self) -> None:
        if not (self.keys or self.presets or self.patterns):
            raise ValueError("set keys, presets or patterns: a redact processor without rules does nothing")
        if self.action == "hash" and not self.hash_key_file:
            raise ValueError("action = 'hash' needs hash_key_file (a private file holding the key)")
        if self.action == "hash" and self.replacement and "{hash}" not in self.replacement:
            raise ValueError("with action = 'hash' the replacement must contain {hash}")
        if not 8 <= self.hash_length <= 64:
            raise ValueError(f"hash_length must be between 8 and 64, got {self.hash_length}")
        for rule in self.rules():
            rule.compile()  # ValueError naming the pattern that does not compile

    def rules(self) -> tuple[Rule, ...]:
        named = tuple(Rule(name, pattern) for name, pattern in self.patterns.items())
        return tuple(Rule.from_preset(p) for p in expand(self.presets)) + named

    def template(self) -> str:
        return self.replacement or ("{rule}:{hash}" if self.action == "hash" else "****")


def _check_regexes(patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None


def _check_severity(text: str) -> None:
    parse_severity(text)


@dataclass(frozen=True)
class FilterConfig:
    """``type = "filter"``: drop matching records, or keep only them."""

    action: Literal["drop", "keep"] = field(
        default="drop", metadata={"help": "drop records that match, or keep only records that match"}
    )
    metric_names: tuple[str, ...] = field(default=(), metadata={"help": "metric name globs (metrics)"})
    span_names: tuple[str, ...] = field(default=(), metadata={"help": "span name globs (traces)"})
    severity_min: str = field(
        default="",
        metadata={
            "help": "lowest severity that matches: info, warn, error2, 13 (logs)",
            "check": _check_severity,
        },
    )
    severity_max: str = field(
        default="", metadata={"help": "highest severity that matches (logs)", "check": _check_severity}
    )
    match_undefined_severity: bool = field(
        default=False, metadata={"help": "whether logs without a severity match a severity criterion"}
    )
    bodies: tuple[str, ...] = field(
        default=(),
        metadata={"help": "regular expressions searched in string log bodies", "check": _check_regexes},
    )
    attributes: dict[str, str] = field(
        default_factory=dict, metadata={"help": "record attribute key = value glob (all must match)"}
    )
    resource_attributes: dict[str, str] = field(
        default_factory=dict, metadata={"help": "resource attribute key = value glob (all must match)"}
    )

    def __post_init__(self) -> None:
        if not any(
            (self.metric_names, self.span_names, self.severity_min, self.severity_max, self.bodies)
        ) and not (self.attributes or self.resource_attributes):
            raise ValueError(
                "set at least one criterion (metric_names, span_names, severity_min, severity_max, "
                "bodies, attributes, resource_attributes): a filter without one would match everything"
            )
        lo, hi = parse_severity(self.severity_min), parse_severity(self.severity_max)
        if lo and hi and lo > hi:
            raise ValueError(
                f"severity_min ({self.severity_min}) is above severity_max ({self.severity_max})"
            )
        self.signals()  # criteria of different signals do not combine

    def signals(self) -> frozenset[Signal]:
        return criteria_signals(
            metric_names=bool(self.metric_names),
            span_names=bool(self.span_names),
            logs_only=bool(self.severity_min or self.severity_max or self.bodies),
        )


def _check_renames(renames: dict[str, str]) -> None:
    targets = list(renames.values())
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ValueError(f"several keys are renamed to {', '.join(duplicates)}; rename to distinct keys")


@dataclass(frozen=True)
class AttributesConfig:
    """``type = "attributes"``: edit record attributes (applied: delete, rename, set, add)."""

    delete: tuple[str, ...] = field(default=(), metadata={"help": "keys (globs) to remove"})
    rename: dict[str, str] = field(
        default_factory=dict, metadata={"help": 'old = "new"', "check": _check_renames}
    )
    set: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "key = value, written always (upsert)", "check": check_scalars},
    )
    add: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "key = value, written only where absent", "check": check_scalars},
    )

    def __post_init__(self) -> None:
        if not (self.delete or self.rename or self.set or self.add or self._has_sources()):
            raise ValueError("set delete, rename, set or add: this processor would do nothing")

    def _has_sources(self) -> bool:
        return False


@dataclass(frozen=True)
class ResourceConfig(AttributesConfig):
    """``type = "resource"``: edit resource attributes; values may come from env, files, the agent."""

    from_env: dict[str, str] = field(
        default_factory=dict, metadata={"help": "attribute = environment variable name (set, read at start)"}
    )
    from_file: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "attribute = file whose first line is the value (set, read at start)"},
    )
    agent_attributes: bool = field(
        default=False,
        metadata={"help": "add the agent's [resource] attributes (device profile, config) where absent"},
    )

    def _has_sources(self) -> bool:
        return bool(self.from_env or self.from_file or self.agent_attributes)


PROCESSOR_TYPES: dict[str, type] = {
    "redact": RedactConfig,
    "filter": FilterConfig,
    "attributes": AttributesConfig,
    "resource": ResourceConfig,
}


# -- loading -------------------------------------------------------------------


def build_processors(node: Tree | Leaf | None, provenance: Provenance) -> tuple[ProcessorInstanceConfig, ...]:
    """Build every ``[processors.<name>]`` table of the merged tree, in order."""
    if node is None or is_empty_table(node):
        return ()
    if isinstance(node, Leaf):
        raise ConfigError("expected a table of processor instances", key="processors", origin=node.origin)
    return tuple(_build_one(name, sub, provenance) for name, sub in node.items())


def _build_one(name: str, node: Tree | Leaf, provenance: Provenance) -> ProcessorInstanceConfig:
    path = f"processors.{name}"
    origin = node.origin if isinstance(node, Leaf) else ""
    if is_empty_table(node):
        node = {}
    if isinstance(node, Leaf):
        raise ConfigError(f"expected a table [processors.{name}] with a type", key=path, origin=origin)
    type_leaf = node.get("type")
    type_name = type_leaf.value if isinstance(type_leaf, Leaf) else name
    type_origin = type_leaf.origin if isinstance(type_leaf, Leaf) else "default (the instance name)"
    config_class = PROCESSOR_TYPES.get(str(type_name))
    if config_class is None:
        hint = close_matches(str(type_name), PROCESSOR_TYPES)
        extra = f"; did you mean {hint[0]!r}?" if hint else f"; known types: {', '.join(PROCESSOR_TYPES)}"
        raise ConfigError(
            f"unknown processor type {type_name!r}{extra}", key=f"{path}.type", origin=type_origin
        )
    provenance[f"{path}.type"] = type_origin
    own_keys = [f.name for f in dataclasses.fields(config_class)]
    check_unknown_keys(node, [*PROCESSOR_COMMON_KEYS, *own_keys], path)
    common: dict[str, Any] = {}
    for key in PROCESSOR_COMMON_KEYS[1:]:
        if key in node:
            meta = _common_fields()[key].metadata
            common[key] = convert(
                _common_hints()[key], node[key], f"{path}.{key}", provenance, meta.get("check")
            )
        else:
            provenance.setdefault(f"{path}.{key}", "default")
    settings_tree = {k: v for k, v in node.items() if k not in PROCESSOR_COMMON_KEYS}
    try:
        settings: object = build(config_class, settings_tree, path=path, provenance=provenance)
    except ConfigError as exc:
        if exc.origin or not origin:
            raise
        raise ConfigError(exc.reason, key=exc.key, origin=origin) from None  # an empty table: its line
    return ProcessorInstanceConfig(name=name, type=str(type_name), settings=settings, **common)


@functools.cache
def _common_hints() -> dict[str, Any]:
    return get_type_hints(ProcessorInstanceConfig)


@functools.cache
def _common_fields() -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(ProcessorInstanceConfig)}


def check_plugin_selection(
    processors: tuple[ProcessorInstanceConfig, ...], plugin_names: tuple[str, ...], provenance: Provenance
) -> None:
    """Every literal name in ``plugins`` is a configured instance, and every glob matches one.

    A typo here would silently exempt a plugin from redaction, so it is an error.
    """
    known = (*plugin_names, SELF_TELEMETRY)
    for proc in processors:
        for glob in proc.plugins:
            if glob == SELF_TELEMETRY or any(fnmatch.fnmatchcase(name, glob) for name in plugin_names):
                continue
            hint = close_matches(glob, known)
            extra = f"; did you mean {hint[0]!r}?" if hint else f" (instances: {', '.join(known)})"
            key = f"processors.{proc.name}.plugins"
            raise ConfigError(
                f"{glob!r} matches no plugin instance{extra}", key=key, origin=provenance.get(key, "")
            )
