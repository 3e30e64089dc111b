"""One function per host-metrics area; each reads psutil and appends to a builder.

Metric and attribute names follow the OpenTelemetry semantic conventions for
system metrics (``system.cpu.*``, ``system.memory.*`` ...; attributes
``cpu.mode``, ``system.memory.state``, ``network.io.direction`` ...), with
the units they specify (``By``, ``s``, ``1``). Counters since boot are
cumulative sums; usage values are non-monotonic sums; ratios are gauges.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psutil

from edge_agent import MetricsBuilder

_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass
class ScrapeState:
    """What a scraper must remember between cycles.

    Besides the previous CPU times, it memoizes per-device decisions and
    attribute dicts: devices and interfaces rarely change, and rebuilding
    them (glob matching, dict literals) every cycle cost more than encoding.
    """

    cpu_previous: list[Any] | None = None
    boot_time_ns: int = 0
    fs_filter: Callable[[Any], bool] = field(default=lambda part: True)
    memo: dict[tuple[str, str], Any] = field(default_factory=dict)

    def excluded(self, kind: str, name: str, patterns: tuple[str, ...]) -> bool:
        key = (kind, name)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = any(fnmatch.fnmatchcase(name, pat) for pat in patterns)
        return bool(hit)

    def attrs(self, kind: str, name: str, build: Callable[[], Any]) -> Any:
        key = (kind, name)
        hit = self.memo.get(key)
        if hit is None:
            if len(self.memo) > 4096:  # hot-plugged devices come and go; stay bounded
                self.memo.clear()
            hit = self.memo[key] = build()
        return hit


def _cpu_layout(sample: Any) -> tuple[tuple[str, int], ...]:
    """(mode, index into the cpu_times tuple) for the modes this kernel reports."""
    fields = type(sample)._fields
    return tuple((mode, fields.index(mode)) for mode in _CPU_MODES if mode in fields)


def _cpu_attrs(cpu: int, per_cpu: bool, layout: tuple[tuple[str, int], ...]) -> list[dict[str, str]]:
    if per_cpu:
        return [{"cpu.logical_number": str(cpu), "cpu.mode": mode} for mode, _ in layout]
    return [{"cpu.mode": mode} for mode, _ in layout]


def scrape_cpu(b: MetricsBuilder, state: ScrapeState, per_cpu: bool) -> None:
    current = psutil.cpu_times(percpu=True) if per_cpu else [psutil.cpu_times()]
    layout = state.attrs("cpu", "layout", lambda: _cpu_layout(current[0]))
    previous = state.cpu_previous
    time_points: list[tuple[dict[str, str], float]] = []
    util_points: list[tuple[dict[str, str], float]] = []
    for cpu, times in enumerate(current):
        attrs = state.attrs("cpu.attrs", str(cpu), partial(_cpu_attrs, cpu, per_cpu, layout))
        values = [times[i] for _, i in layout]
        time_points.extend(zip(attrs, values, strict=True))
        if previous is not None and cpu < len(previous):
            before = previous[cpu]
            deltas = [max(0.0, v - before[i]) for v, (_, i) in zip(values, layout, strict=True)]
            total = sum(deltas)
            if total > 0:
                util_points.extend(zip(attrs, [d / total for d in deltas], strict=True))
    state.cpu_previous = current
    b.sum(
        "system.cpu.time",
        time_points,
        unit="s",
        start_time_ns=state.boot_time_ns,
        description="Seconds each logical CPU spent on each mode",
    )
    if util_points:
        b.gauge(
            "system.cpu.utilization",
            util_points,
            unit="1",
            description="Fraction of CPU time spent in each mode since the last scrape",
        )


def scrape_load(b: MetricsBuilder) -> None:
    one, five, fifteen = os.getloadavg()
    b.gauge("system.cpu.load_average.1m", one, unit="{thread}")
    b.gauge("system.cpu.load_average.5m", five, unit="{thread}")
    b.gauge("system.cpu.load_average.15m", fifteen, unit="{thread}")


_MEM_STATES = {state: {"system.memory.state": state} for state in ("used", "free", "buffers", "cached")}
_PAGING_STATES = {state: {"system.paging.state": state} for state in ("used", "free")}


def scrape_memory(b: MetricsBuilder) -> None:
    vm = psutil.virtual_memory()
    usage = [(_MEM_STATES["used"], vm.used), (_MEM_STATES["free"], vm.free)]
    for state in ("buffers", "cached"):
        if hasattr(vm, state):
            usage.append((_MEM_STATES[state], getattr(vm, state)))
    b.sum("system.memory.usage", usage, unit="By", monotonic=False, description="Bytes of memory in use")
    b.gauge("system.memory.utilization", [(_MEM_STATES["used"], vm.percent / 100.0)], unit="1")
    b.sum("system.memory.limit", vm.total, unit="By", monotonic=False, description="Total memory")


def scrape_paging(b: MetricsBuilder) -> None:
    swap = psutil.swap_memory()
    b.sum(
        "system.paging.usage",
        [(_PAGING_STATES["used"], swap.used), (_PAGING_STATES["free"], swap.free)],
        unit="By",
        monotonic=False,
        description="Swap space in use",
    )
    if swap.total:
        b.gauge("system.paging.utilization", [(_PAGING_STATES["used"], swap.used / swap.total)], unit="1")


def scrape_disk(b: MetricsBuilder, state: ScrapeState, exclude_devices: tuple[str, ...]) -> None:
    counters = psutil.disk_io_counters(perdisk=True) or {}
    io, ops, busy = [], [], []
    for device, c in counters.items():
        if state.excluded("disk", device, exclude_devices):
            continue
        read, write, plain = state.attrs("disk.attrs", device, partial(_disk_attrs, device))
        io += [(read, c.read_bytes), (write, c.write_bytes)]
        ops += [(read, c.read_count), (write, c.write_count)]
        if hasattr(c, "busy_time"):
            busy.append((plain, c.busy_time / 1000.0))
    start = state.boot_time_ns
    b.sum(
        "system.disk.io",
        io,
        unit="By",
        start_time_ns=start,
        description="Bytes read from and written to disk",
    )
    b.sum("system.disk.operations", ops, unit="{operation}", start_time_ns=start)
    if busy:
        b.sum(
            "system.disk.io_time", busy, unit="s", start_time_ns=start, description="Time the disk was busy"
        )


def _disk_attrs(device: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    return (
        {"system.device": device, "disk.io.direction": "read"},
        {"system.device": device, "disk.io.direction": "write"},
        {"system.device": device},
    )


def _nic_attrs(nic: str) -> tuple[dict[str, str], dict[str, str]]:
    return (
        {"network.interface.name": nic, "network.io.direction": "transmit"},
        {"network.interface.name": nic, "network.io.direction": "receive"},
    )


def _fs_attrs(part: Any) -> tuple[dict[str, str], ...]:
    base = {
        "system.device": part.device,
        "system.filesystem.mountpoint": part.mountpoint,
        "system.filesystem.type": part.fstype,
        "system.filesystem.mode": "ro" if "ro" in part.opts.split(",") else "rw",
    }
    return (base, *({**base, "system.filesystem.state": s} for s in ("used", "free", "reserved")))


def scrape_filesystem(b: MetricsBuilder, state: ScrapeState) -> None:
    usage, utilization = [], []
    for part in psutil.disk_partitions(all=False):
        if not state.fs_filter(part):
            continue
        try:
            du = psutil.disk_usage(part.mountpoint)
        except OSError:  # unmounted between listing and stat, or no permission
            continue
        base, used, free, reserved_attrs = state.attrs(
            "fs.attrs", "|".join(part[:4]), partial(_fs_attrs, part)
        )
        reserved = max(0, du.total - du.used - du.free)
        usage += [(used, du.used), (free, du.free), (reserved_attrs, reserved)]
        if du.total:
            utilization.append((base, du.used / du.total))
    b.sum(
        "system.filesystem.usage", usage, unit="By", monotonic=False, description="Filesystem space by state"
    )
    b.gauge("system.filesystem.utilization", utilization, unit="1")


def scrape_network(b: MetricsBuilder, state: ScrapeState, exclude: tuple[str, ...]) -> None:
    counters = psutil.net_io_counters(pernic=True)
    io, packets, errors, dropped = [], [], [], []
    for nic, c in counters.items():
        if state.excluded("nic", nic, exclude):
            continue
        tx, rx = state.attrs("nic.attrs", nic, partial(_nic_attrs, nic))
        sent, recv, packets_sent, packets_recv, errin, errout, dropin, dropout = c[:8]
        io.append((tx, sent))
        io.append((rx, recv))
        packets.append((tx, packets_sent))
        packets.append((rx, packets_recv))
        errors.append((tx, errout))
        errors.append((rx, errin))
        dropped.append((tx, dropout))
        dropped.append((rx, dropin))
    start = state.boot_time_ns
    b.sum("system.network.io", io, unit="By", start_time_ns=start, description="Bytes sent and received")
    b.sum("system.network.packets", packets, unit="{packet}", start_time_ns=start)
    b.sum("system.network.errors", errors, unit="{error}", start_time_ns=start)
    b.sum("system.network.dropped", dropped, unit="{packet}", start_time_ns=start)


def scrape_connections(b: MetricsBuilder) -> None:
    """TCP connection counts by state: opt-in, ``net_connections`` costs ~13 ms."""
    counts: dict[str, int] = {}
    for conn in psutil.net_connections(kind="tcp"):
        counts[conn.status] = counts.get(conn.status, 0) + 1
    points = [
        ({"network.transport": "tcp", "network.connection.state": s.lower()}, n)
        for s, n in sorted(counts.items())
    ]
    b.sum("system.network.connections", points, unit="{connection}", monotonic=False)


def scrape_sensors(b: MetricsBuilder) -> None:
    """Temperatures and battery, where the hardware has them (a Pi has a CPU sensor)."""
    temps = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") else {}
    points = []
    for chip, readings in temps.items():
        for index, reading in enumerate(readings):
            label = reading.label or f"{chip}{index}"
            points.append(
                ({"hw.id": f"{chip}.{index}", "hw.name": label, "hw.type": "temperature"}, reading.current)
            )
    if points:
        b.gauge("hw.temperature", points, unit="Cel", description="Temperature reported by each sensor")
    battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
    if battery is not None:
        attrs = {"hw.id": "battery0", "hw.power_supply.plugged": "true" if battery.power_plugged else "false"}
        b.gauge("hw.battery.charge", [(attrs, battery.percent / 100.0)], unit="1")
        if battery.secsleft not in (psutil.POWER_TIME_UNLIMITED, psutil.POWER_TIME_UNKNOWN):
            b.gauge("hw.battery.time_left", [(attrs, float(battery.secsleft))], unit="s")


def scrape_uptime(b: MetricsBuilder, state: ScrapeState) -> None:
    b.gauge(
        "system.uptime", time.time() - state.boot_time_ns / 1e9, unit="s", description="Seconds since boot"
    )
