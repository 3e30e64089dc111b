"""Reading the device's pressure signals with psutil (blocking: call :meth:`HostSampler.read` in a thread).

Every call is cheap (0.05-0.3 ms, see DESIGN.md) but psutil reads /proc
and /sys, so the controller runs it through ``trio.to_thread.run_sync``.
Signals a platform does not provide (``sensors_battery`` on a board
without a battery, or in a container) read as ``None`` and are not asked
for again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class HostReading:
    host_cpu: float | None  # fraction of all CPUs busy since the previous read
    cpu_seconds: float | None  # the agent's cumulative CPU time (user + system)
    memory_used: float | None  # fraction of device memory in use
    rss: int | None
    on_battery: bool | None = None
    battery_percent: float | None = None


class HostSampler:
    def __init__(self, pid: int | None = None) -> None:
        self._process = psutil.Process(pid or os.getpid())
        self._has_battery = hasattr(psutil, "sensors_battery")
        self._primed = False

    def read(self) -> HostReading:
        """One reading of every signal (blocking)."""
        # cpu_percent(None) compares with the previous call; the first call has no base
        host_cpu = psutil.cpu_percent(None) / 100.0 if self._primed else None
        if not self._primed:
            psutil.cpu_percent(None)
            self._primed = True
        times = self._process.cpu_times()
        memory = psutil.virtual_memory()
        on_battery, percent = self._battery()
        return HostReading(
            host_cpu=host_cpu,
            cpu_seconds=times.user + times.system,
            memory_used=1.0 - memory.available / memory.total if memory.total else None,
            rss=self._process.memory_info().rss,
            on_battery=on_battery,
            battery_percent=percent,
        )

    def _battery(self) -> tuple[bool | None, float | None]:
        if not self._has_battery:
            return None, None
        try:
            battery = psutil.sensors_battery()
        except (OSError, NotImplementedError, RuntimeError):
            battery = None
        if battery is None:
            self._has_battery = False  # no battery now means none later: stop asking
            return None, None
        plugged = battery.power_plugged
        return (None if plugged is None else not plugged), float(battery.percent)
