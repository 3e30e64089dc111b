"""hostmetrics: semantic-convention names, units and attributes, parsed back with opentelemetry-proto."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edge_agent import Priority
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.otlp import attributes
from edge_agent.runtime.clock import AgentClock
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.state import CborStateStore
from edge_agent_plugins.hostmetrics import ALL_SCRAPERS, HostMetrics, HostMetricsConfig

UNITS = {
    "system.cpu.time": "s",
    "system.cpu.utilization": "1",
    "system.cpu.load_average.1m": "{thread}",
    "system.memory.usage": "By",
    "system.memory.utilization": "1",
    "system.paging.usage": "By",
    "system.disk.io": "By",
    "system.disk.operations": "{operation}",
    "system.filesystem.usage": "By",
    "system.filesystem.utilization": "1",
    "system.network.io": "By",
    "system.network.packets": "{packet}",
    "system.network.errors": "{error}",
    "system.network.dropped": "{packet}",
    "system.uptime": "s",
}


def _ctx(tmp_path: Path) -> RuntimeContext:
    inst = AgentInstruments.create()
    return RuntimeContext(
        name="hostmetrics",
        priority=Priority.NORMAL,
        pipeline=Pipeline(MemoryBuffer(1 << 20, inst.dropped), inst.pipeline),
        state=CborStateStore(tmp_path / "s.cbor"),
        clock=AgentClock(),
        resource=attributes.resource({"service.name": "edge-agent"}),
        scope=attributes.scope("edge_agent.hostmetrics"),
        start_time_ns=1,
    )


def _scrape(tmp_path: Path, config: HostMetricsConfig) -> dict[str, Any]:
    plugin = HostMetrics(config)
    ctx = _ctx(tmp_path)
    plugin.setup(ctx)
    time.sleep(0.1)  # let the kernel's CPU counters tick (10 ms resolution) so utilization has a base
    (fragment,) = plugin.scrape(ctx)
    req = ExportMetricsServiceRequest.FromString(fragment.payload)
    metrics = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
    points = sum(len(getattr(m, m.WhichOneof("data")).data_points) for m in metrics.values())
    assert fragment.records == points
    return metrics


def _attrs(point: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


async def test_default_scrape_names_and_units(tmp_path: Path) -> None:
    """Every default metric is present with its semantic-convention unit."""
    metrics = await trio.to_thread.run_sync(_scrape, tmp_path, HostMetricsConfig())
    for name, unit in UNITS.items():
        assert name in metrics, name
        assert metrics[name].unit == unit, name
    cpu = metrics["system.cpu.time"]
    assert cpu.sum.is_monotonic
    assert {_attrs(p)["cpu.mode"] for p in cpu.sum.data_points} >= {"user", "system", "idle"}
    util = metrics["system.cpu.utilization"].gauge.data_points
    assert sum(p.as_double for p in util) == pytest.approx(1.0, abs=1e-6)
    mem = metrics["system.memory.usage"]
    assert not mem.sum.is_monotonic
    assert {_attrs(p)["system.memory.state"] for p in mem.sum.data_points} >= {"used", "free"}


async def test_pseudo_filesystems_and_loopback_skipped(tmp_path: Path) -> None:
    """Filesystem points are real mounts only; lo and loop devices are excluded by default."""
    metrics = await trio.to_thread.run_sync(_scrape, tmp_path, HostMetricsConfig())
    fs_types = {
        _attrs(p)["system.filesystem.type"] for p in metrics["system.filesystem.usage"].sum.data_points
    }
    assert fs_types
    assert not fs_types & {"proc", "sysfs", "tmpfs", "overlay", "squashfs"}
    nics = {_attrs(p)["network.interface.name"] for p in metrics["system.network.io"].sum.data_points}
    assert "lo" not in nics
    devices = {_attrs(p)["system.device"] for p in metrics["system.disk.io"].sum.data_points}
    assert not any(d.startswith(("loop", "ram")) for d in devices)


async def test_per_cpu_and_scraper_selection(tmp_path: Path) -> None:
    """per_cpu adds cpu.logical_number; `scrapers` limits what is collected."""
    config = HostMetricsConfig(scrapers=("cpu",), per_cpu=True)
    metrics = await trio.to_thread.run_sync(_scrape, tmp_path, config)
    assert set(metrics) == {"system.cpu.time", "system.cpu.utilization"}
    numbers = {_attrs(p)["cpu.logical_number"] for p in metrics["system.cpu.time"].sum.data_points}
    assert numbers == {str(i) for i in range(psutil.cpu_count())}


async def test_connections_is_opt_in(tmp_path: Path) -> None:
    """TCP connection counts appear only when asked for (net_connections costs ~13 ms)."""
    assert "connections" in ALL_SCRAPERS
    default = await trio.to_thread.run_sync(_scrape, tmp_path, HostMetricsConfig())
    assert "system.network.connections" not in default
    with_conns = await trio.to_thread.run_sync(
        _scrape, tmp_path, HostMetricsConfig(scrapers=("connections",))
    )
    assert with_conns["system.network.connections"].unit == "{connection}"
