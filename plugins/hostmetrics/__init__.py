"""Host metrics from psutil: CPU, load, memory, swap, disk, filesystems, network, sensors, uptime."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import psutil

from edge_agent import BlockingScraper, Fragment, PluginContext, setting

from . import scrapers

ALL_SCRAPERS = (
    "cpu",
    "load",
    "memory",
    "paging",
    "disk",
    "filesystem",
    "network",
    "sensors",
    "uptime",
    "connections",
)
DEFAULT_SCRAPERS = ALL_SCRAPERS[:-1]  # connections is opt-in: psutil.net_connections costs ~13 ms

# Kernel and virtual filesystems that say nothing about storage a device can fill.
PSEUDO_FS_TYPES = (
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
)


def _check_scrapers(value: tuple[str, ...]) -> None:
    unknown = [s for s in value if s not in ALL_SCRAPERS]
    if unknown:
        raise ValueError(f"unknown scraper(s) {', '.join(unknown)}; choose from {', '.join(ALL_SCRAPERS)}")


@dataclass(frozen=True)
class HostMetricsConfig:
    scrapers: tuple[str, ...] = setting(
        DEFAULT_SCRAPERS, help="which areas to collect", check=_check_scrapers
    )
    per_cpu: bool = setting(False, help="CPU time and utilization per logical CPU, not only in total")
    exclude_fs_types: tuple[str, ...] = setting(PSEUDO_FS_TYPES, help="filesystem types to skip")
    exclude_mountpoints: tuple[str, ...] = setting((), help="mount point globs to skip, e.g. /snap/*")
    exclude_devices: tuple[str, ...] = setting(
        ("loop*", "ram*", "zram*"), help="block device globs to skip for disk I/O"
    )
    exclude_interfaces: tuple[str, ...] = setting(("lo",), help="network interface globs to skip")


class HostMetrics(BlockingScraper[HostMetricsConfig]):
    """Collects host metrics with OpenTelemetry semantic-convention names."""

    name = "hostmetrics"
    version = "1.0.0"
    description = "CPU, load, memory, swap, disk I/O, filesystems, network, sensors and uptime (psutil)"
    config_class = HostMetricsConfig
    default_interval = 10.0

    def __init__(self, config: HostMetricsConfig) -> None:
        super().__init__(config)
        self._state = scrapers.ScrapeState(fs_filter=self._keep_filesystem)

    def _keep_filesystem(self, part: Any) -> bool:
        if part.fstype in self.config.exclude_fs_types:
            return False
        return not any(fnmatch.fnmatchcase(part.mountpoint, pat) for pat in self.config.exclude_mountpoints)

    def setup(self, ctx: PluginContext) -> None:
        self._state.boot_time_ns = int(psutil.boot_time() * 1e9)
        self._state.cpu_previous = None
        if "cpu" in self.config.scrapers:
            # prime the CPU baseline so the first scrape already reports utilization
            self._state.cpu_previous = (
                psutil.cpu_times(percpu=True) if self.config.per_cpu else [psutil.cpu_times()]
            )

    def scrape(self, ctx: PluginContext) -> list[Fragment]:
        b = ctx.metrics()
        cfg, state, wanted = self.config, self._state, self.config.scrapers
        if "cpu" in wanted:
            scrapers.scrape_cpu(b, state, cfg.per_cpu)
        if "load" in wanted:
            scrapers.scrape_load(b)
        if "memory" in wanted:
            scrapers.scrape_memory(b)
        if "paging" in wanted:
            scrapers.scrape_paging(b)
        if "disk" in wanted:
            scrapers.scrape_disk(b, state, cfg.exclude_devices)
        if "filesystem" in wanted:
            scrapers.scrape_filesystem(b, state)
        if "network" in wanted:
            scrapers.scrape_network(b, state, cfg.exclude_interfaces)
        if "connections" in wanted:
            scrapers.scrape_connections(b)
        if "sensors" in wanted:
            scrapers.scrape_sensors(b)
        if "uptime" in wanted:
            scrapers.scrape_uptime(b, state)
        return [b.build()]
