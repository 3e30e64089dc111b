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
from typing import Any

import psutil

from edge_agent import MetricsBuilder

_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass
class ScrapeState:
    """What a scraper must remember between cycles (previous CPU times)."""

    cpu_previous: list[Any] | None = None
    boot_time_ns: int = 0
    fs_filter: Callable[[Any], bool] = field(default=lambda part: True)


def _cpu_mode_values(times: Any) -> list[tuple[str, float]]:
    return [(mode, getattr(times, mode)) for mode in _CPU_MODES if hasattr(times, mode)]


def scrape_cpu(b: MetricsBuilder, state: ScrapeState, per_cpu: bool) -> None:
    current = psutil.cpu_times(percpu=True) if per_cpu else [psutil.cpu_times()]
    time_points: list[tuple[dict[str, str], float]] = []
    util_points: list[tuple[dict[str, str], float]] = []
    previous = state.cpu_previous
    for index, times in enumerate(current):
        values = _cpu_mode_values(times)
        base = {"cpu.logical_number": str(index)} if per_cpu else {}
        for mode, seconds in values:
            time_points.append(({**base, "cpu.mode": mode} if base else _MODE_ATTRS[mode], seconds))
        if previous is not None and index < len(previous):
            before = dict(_cpu_mode_values(previous[index]))
            deltas = [(mode, max(0.0, seconds - before.get(mode, 0.0))) for mode, seconds in values]
            total = sum(d for _, d in deltas)
            if total > 0:
                for mode, delta in deltas:
                    util_points.append(
                        ({**base, "cpu.mode": mode} if base else _MODE_ATTRS[mode], delta / total)
                    )
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


_MODE_ATTRS = {mode: {"cpu.mode": mode} for mode in _CPU_MODES}


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
        if any(fnmatch.fnmatchcase(device, pat) for pat in exclude_devices):
            continue
        read = {"system.device": device, "disk.io.direction": "read"}
        write = {"system.device": device, "disk.io.direction": "write"}
        io += [(read, c.read_bytes), (write, c.write_bytes)]
        ops += [(read, c.read_count), (write, c.write_count)]
        if hasattr(c, "busy_time"):
            busy.append(({"system.device": device}, c.busy_time / 1000.0))
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


def scrape_filesystem(b: MetricsBuilder, state: ScrapeState) -> None:
    usage, utilization = [], []
    for part in psutil.disk_partitions(all=False):
        if not state.fs_filter(part):
            continue
        try:
            du = psutil.disk_usage(part.mountpoint)
        except OSError:  # unmounted between listing and stat, or no permission
            continue
        base = {
            "system.device": part.device,
            "system.filesystem.mountpoint": part.mountpoint,
            "system.filesystem.type": part.fstype,
            "system.filesystem.mode": "ro" if "ro" in part.opts.split(",") else "rw",
        }
        reserved = max(0, du.total - du.used - du.free)
        usage += [
            ({**base, "system.filesystem.state": "used"}, du.used),
            ({**base, "system.filesystem.state": "free"}, du.free),
            ({**base, "system.filesystem.state": "reserved"}, reserved),
        ]
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
        if any(fnmatch.fnmatchcase(nic, pat) for pat in exclude):
            continue
        tx = {"network.interface.name": nic, "network.io.direction": "transmit"}
        rx = {"network.interface.name": nic, "network.io.direction": "receive"}
        io += [(tx, c.bytes_sent), (rx, c.bytes_recv)]
        packets += [(tx, c.packets_sent), (rx, c.packets_recv)]
        errors += [(tx, c.errout), (rx, c.errin)]
        dropped += [(tx, c.dropout), (rx, c.dropin)]
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
