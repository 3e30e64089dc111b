"""The public plugin API is pinned: changing it must be a deliberate edit of this list."""

from __future__ import annotations

import subprocess
import sys

import edge_agent

PUBLIC = {
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
}


def test_public_names_are_pinned() -> None:
    """edge_agent.__all__ is exactly the documented API, and every name resolves."""
    assert set(edge_agent.__all__) == PUBLIC
    for name in edge_agent.__all__:
        assert getattr(edge_agent, name) is not None


def test_importing_the_api_stays_cheap() -> None:
    """`import edge_agent` does not pull in trio, protobuf or cryptography (RSS on small boards)."""
    code = "import sys, edge_agent; print(sorted(m for m in ('trio', 'google.protobuf', 'cryptography', 'psutil') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
