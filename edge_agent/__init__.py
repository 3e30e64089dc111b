"""edge-agent: a lightweight telemetry agent for constrained edge devices.

This module is the public API for plugin authors; everything importable
from here is stable (pinned by ``tests/test_public_api.py``). Internals live
in subpackages and may change between releases.
"""

from edge_agent._version import __version__
from edge_agent.config.units import ByteSize, Duration
from edge_agent.errors import (
    BufferFullError,
    ConfigError,
    EdgeAgentError,
    PluginError,
)
from edge_agent.otlp.attributes import Attributes, AttributeValue
from edge_agent.otlp.builders import (
    HistogramPoint,
    LogsBuilder,
    MetricsBuilder,
    Severity,
    SpanKind,
    StatusCode,
    SummaryPoint,
    Temporality,
    TracesBuilder,
)
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.plugin_api import (
    BlockingScraper,
    Clock,
    NoConfig,
    Plugin,
    PluginContext,
    Receiver,
    Scraper,
    StateStore,
    setting,
)

__all__ = [
    "AttributeValue",
    "Attributes",
    "BlockingScraper",
    "BufferFullError",
    "ByteSize",
    "Clock",
    "ConfigError",
    "Duration",
    "EdgeAgentError",
    "Fragment",
    "HistogramPoint",
    "LogsBuilder",
    "MetricsBuilder",
    "NoConfig",
    "Plugin",
    "PluginContext",
    "PluginError",
    "Priority",
    "Receiver",
    "Scraper",
    "Severity",
    "Signal",
    "SpanKind",
    "StateStore",
    "StatusCode",
    "SummaryPoint",
    "Temporality",
    "TracesBuilder",
    "__version__",
    "setting",
]
