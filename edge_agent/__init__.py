"""edge-agent: a lightweight telemetry agent for constrained edge devices.

This module is the public API for plugin authors; everything importable
from here is stable (pinned by ``tests/test_public_api.py``). Internals live
in subpackages and may change between releases.
"""

from typing import TYPE_CHECKING

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
from edge_agent.security.exposure import check_listener_exposure
from edge_agent.security.secrets import read_secret, read_secret_line

if TYPE_CHECKING:
    from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits
    from edge_agent.otlp.validate import OtlpFormatError, otlp_json_to_protobuf, validate_otlp

# The HTTP server for receivers imports trio and h11; it is loaded on first
# use so that importing the API (and `edge-agent version`) stays cheap.
_LAZY = {
    "HttpServer": "edge_agent.httpserver",
    "Reply": "edge_agent.httpserver",
    "Request": "edge_agent.httpserver",
    "ServerLimits": "edge_agent.httpserver",
    # OTLP validation for receivers; pulls in google.protobuf on first use.
    "OtlpFormatError": "edge_agent.otlp.validate",
    "otlp_json_to_protobuf": "edge_agent.otlp.validate",
    "validate_otlp": "edge_agent.otlp.validate",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_agent' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
    "HttpServer",
    "LogsBuilder",
    "MetricsBuilder",
    "NoConfig",
    "OtlpFormatError",
    "Plugin",
    "PluginContext",
    "PluginError",
    "Priority",
    "Receiver",
    "Reply",
    "Request",
    "Scraper",
    "ServerLimits",
    "Severity",
    "Signal",
    "SpanKind",
    "StateStore",
    "StatusCode",
    "SummaryPoint",
    "Temporality",
    "TracesBuilder",
    "__version__",
    "check_listener_exposure",
    "otlp_json_to_protobuf",
    "read_secret",
    "read_secret_line",
    "setting",
    "validate_otlp",
]
