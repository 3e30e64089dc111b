"""The agent's config tree as frozen dataclasses.

Each component owns the dataclass of its own section (``export/config.py``,
``buffer/config.py`` ...); this module composes them into
:class:`AgentConfig`, and defines the sections that belong to no single
component. Components receive only their own section, never the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edge_agent.adaptive.config import AdaptiveConfig
from edge_agent.admin.config import AdminConfig
from edge_agent.buffer.config import BufferConfig
from edge_agent.config.units import Duration
from edge_agent.export.config import ExporterConfig
from edge_agent.fleet.config import FleetConfig
from edge_agent.otlp.fragment import Priority
from edge_agent.processors.config import ProcessorInstanceConfig
from edge_agent.systemd.config import ServiceConfig


@dataclass(frozen=True)
class AgentSection:
    """``[agent]``: process-wide settings."""

    state_dir: str = field(
        default="",
        metadata={"help": "where state and buffer live; empty = $STATE_DIRECTORY, else ./edge-agent-data"},
    )
    log_level: Literal["debug", "info", "warning", "error"] = field(
        default="info", metadata={"help": "log verbosity"}
    )
    plugin_dirs: tuple[str, ...] = field(
        default=(), metadata={"help": "extra directories of plugin modules to load"}
    )
    shutdown_grace: Duration = field(
        default=Duration(10.0),
        metadata={"help": "how long shutdown waits for the buffer and exporter to drain"},
    )


@dataclass(frozen=True)
class ResourceSection:
    """``[resource]``: attributes added to every resource the agent emits."""

    attributes: dict[str, str] = field(
        default_factory=dict, metadata={"help": 'extra resource attributes, e.g. site = "plant-3"'}
    )


@dataclass(frozen=True)
class SelfTelemetryConfig:
    """``[self_telemetry]``: the agent's own metrics, exported upstream as ``edge_agent.*``."""

    enabled: bool = field(default=True, metadata={"help": "export the agent's own metrics upstream"})
    interval: Duration = field(default=Duration(60.0), metadata={"help": "how often they are exported"})


# Keys every [plugins.<name>] table may carry; everything else belongs to the
# plugin's own config class.
PLUGIN_COMMON_KEYS = ("type", "enabled", "interval", "priority", "jitter", "min_interval", "max_interval")


@dataclass(frozen=True)
class PluginInstanceConfig:
    """One ``[plugins.<name>]`` table: framework settings plus the plugin's own."""

    name: str
    type: str
    enabled: bool = True
    interval: Duration | None = None
    jitter: Duration | None = None
    priority: Priority | None = None
    # bounds of the adaptive interval; unset: interval / 4 and 6 x interval (docs/degradation.md)
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    settings: Any = None


@dataclass(frozen=True)
class AgentConfig:
    """The whole, validated configuration."""

    profile: str = field(default="", metadata={"help": "device profile from firmware_configs/ (or a path)"})
    agent: AgentSection = field(default_factory=AgentSection)
    resource: ResourceSection = field(default_factory=ResourceSection)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    exporter: ExporterConfig = field(default_factory=ExporterConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    self_telemetry: SelfTelemetryConfig = field(default_factory=SelfTelemetryConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    plugins: tuple[PluginInstanceConfig, ...] = ()
    processors: tuple[ProcessorInstanceConfig, ...] = ()
