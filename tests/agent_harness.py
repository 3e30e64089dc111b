"""Helpers shared by tests that run a whole agent, in process or as a subprocess."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.export.exporter import Connector
from edge_agent.export.http import Endpoint
from edge_agent.httpserver import HttpServer
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink

PLUGIN_DIR = Path(__file__).parent / "plugin_dir"


def memory_connector(sink: OtlpSink, nursery: trio.Nursery) -> Connector:
    """Connect the exporter to ``sink`` over in-memory streams (MockClock-friendly)."""
    server = HttpServer(sink.handle, sink.limits, name="sink")

    async def connect(endpoint: Endpoint) -> trio.abc.Stream:
        client, remote = trio.testing.memory_stream_pair()
        nursery.start_soon(server.serve_stream, remote)
        return client

    return connect


def agent_toml(state_dir: Path, body: str, *, endpoint: str = "http://sink.invalid:4318") -> str:
    """A config with only the given plugins: no admin port, no host metrics, no self-telemetry."""
    return f"""
[agent]
state_dir = "{state_dir}"
plugin_dirs = ["{PLUGIN_DIR}"]
shutdown_grace = "3s"

[admin]
enabled = false

[self_telemetry]
enabled = false

[exporter]
endpoint = "{endpoint}"

[plugins.hostmetrics]
enabled = false
{body}
"""


def load_text(path: Path, text: str, plugin_types: Any = PluginRegistry.for_config) -> LoadedConfig:
    path.write_text(text)
    return load_config(main_path=path, environ={}, plugin_types=plugin_types)


def log_records(sink: OtlpSink) -> Iterator[dict[str, Any]]:
    """Attributes of every log record the sink received (needs keep_messages=True)."""
    for received in sink.requests:
        if received.signal is not Signal.LOGS:
            continue
        for rl in received.message.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    attrs = {}
                    for kv in record.attributes:
                        kind = kv.value.WhichOneof("value")
                        attrs[kv.key] = getattr(kv.value, kind) if kind else None
                    yield attrs


def seqs_by_instance(sink: OtlpSink) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for attrs in log_records(sink):
        out.setdefault(str(attrs["instance"]), []).append(int(attrs["seq"]))
    return out


def tags_by_instance(sink: OtlpSink) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for attrs in log_records(sink):
        out.setdefault(str(attrs["instance"]), Counter())[str(attrs["tag"])] += 1
    return out


async def poll_until(predicate: Callable[[], bool], interval: float = 0.05) -> None:
    """Wait (use under fail_after) until ``predicate()`` holds, checking every ``interval``.

    For state that has no event to wait on (counters, liveness verdicts)."""
    while not predicate():  # noqa: ASYNC110 - polling plain state on purpose
        await trio.sleep(interval)
