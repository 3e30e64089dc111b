"""Pressure signals as plain values, and the CPU meter that turns CPU-time readings into a share.

A :class:`PressureSample` is what the sampler (a thin trio shell around
psutil, :mod:`edge_agent.adaptive.sampler`) hands the sans-IO policies every
``adaptive.sample_interval``. ``None`` means "not known on this device" (no
battery, a psutil call the platform lacks) and never counts as pressure.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class PressureSample:
    at: float  # trio clock
    host_cpu: float | None = None  # fraction of all CPUs busy, 0..1
    agent_cpu: float | None = None  # cores the agent used, averaged over adaptive.cpu_window
    memory_used: float | None = None  # fraction of device memory in use, 0..1
    rss: int | None = None  # the agent's resident set, bytes
    buffer_fill: float = 0.0  # fraction of the buffer budget in use
    link_up: bool | None = None  # False once the exporter's breakers are all open
    on_battery: bool | None = None
    battery_percent: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class CpuMeter:
    """Average CPU use (in cores) over a sliding window of cumulative CPU-second readings.

    ``add(t, cpu_seconds)`` returns the average over the last ``window``
    seconds once that much history exists, else ``None``: a share measured
    over a few seconds of start-up (imports, recovery) says nothing about the
    steady state, and must not throttle plugins.
    """

    def __init__(self, window: float) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self._readings: deque[tuple[float, float]] = deque()

    def add(self, at: float, cpu_seconds: float) -> float | None:
        readings = self._readings
        if readings and at <= readings[-1][0]:
            return None  # clock did not move: nothing to learn
        readings.append((at, cpu_seconds))
        # keep the newest reading at least ``window`` old as the base of the average
        while len(readings) > 2 and at - readings[1][0] >= self.window:
            readings.popleft()
        base_t, base_cpu = readings[0]
        if at - base_t < self.window:
            return None
        return max(0.0, cpu_seconds - base_cpu) / (at - base_t)
