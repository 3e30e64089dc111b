"""file_gauge: the example plugin. Reads numbers from files (sysfs, procfs) as gauges.

Edge boards expose much of their state as one number per file
(``/sys/class/thermal/thermal_zone0/temp`` is millidegrees Celsius on a
Raspberry Pi). This plugin turns such files into gauges, and shows every part
of the plugin API: a documented config dataclass with validation, a blocking
scraper run in a worker thread, metric and log builders, and the persistent
state store (it remembers the peak value of each file across restarts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trio

from edge_agent import BlockingScraper, Fragment, LogsBuilder, PluginContext, Severity, setting


def _check_files(files: dict[str, str]) -> None:
    if not files:
        raise ValueError(
            'name at least one file, e.g. files = { cpu_temp = "/sys/class/thermal/thermal_zone0/temp" }'
        )


@dataclass(frozen=True)
class FileGaugeConfig:
    files: dict[str, str] = setting(help="gauge name suffix -> file path", check=_check_files)
    scale: float = setting(1.0, help="multiply each value by this (0.001 turns millidegrees into degrees)")
    unit: str = setting("1", help="UCUM unit of the scaled value, e.g. Cel")
    prefix: str = setting("device.", help="metric name prefix")


class FileGauge(BlockingScraper[FileGaugeConfig]):
    """Emits ``<prefix><name>`` and ``<prefix><name>.peak`` gauges from numbers in files."""

    name = "file_gauge"
    version = "1.0.0"
    description = "numbers read from files (sysfs/procfs) as gauges, with persisted peaks"
    config_class = FileGaugeConfig
    default_interval = 30.0

    def __init__(self, config: FileGaugeConfig) -> None:
        super().__init__(config)
        self._failing: set[str] = set()

    def scrape(self, ctx: PluginContext) -> list[Fragment]:
        metrics = ctx.metrics()
        logs = ctx.logs()
        peaks: dict[str, float] = dict(ctx.state.get("peaks", {}))
        for name, path in sorted(self.config.files.items()):
            value = self._read(name, path, logs, ctx)
            if value is None:
                continue
            metric = f"{self.config.prefix}{name}"
            metrics.gauge(metric, [({"file.path": path}, value)], unit=self.config.unit)
            peaks[name] = max(value, peaks.get(name, value))
            metrics.gauge(f"{metric}.peak", [({"file.path": path}, peaks[name])], unit=self.config.unit)
        if peaks != ctx.state.get("peaks", {}):
            # blocking scrapers run in a worker thread: hop back to trio for the async state write
            trio.from_thread.run(ctx.state.put, "peaks", peaks)
        return [f for f in (metrics.build(), logs.build()) if f.records]

    def _read(self, name: str, path: str, logs: LogsBuilder, ctx: PluginContext) -> float | None:
        try:
            value = float(Path(path).read_text(encoding="ascii").strip()) * self.config.scale
        except (OSError, ValueError) as exc:
            if name not in self._failing:  # say it once per failure streak, as a log record and a log line
                self._failing.add(name)
                ctx.logger.warning("cannot read %s (%s): %s", name, path, exc)
                logs.record(
                    f"cannot read {path}: {exc}",
                    severity=Severity.WARN,
                    severity_text="WARN",
                    attributes={"file.path": path},
                    observed_time_ns=ctx.clock.time_ns(),
                )
            return None
        self._failing.discard(name)
        return value
