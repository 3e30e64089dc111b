"""Configuration of the agent as a supervised service (``[service]``).

Two kinds of keys live here. ``stall_timeout`` and ``status_interval``
steer the running agent (liveness, ``STATUS=`` refresh) and apply live on
reload. The budget keys (``memory_max``, ``cpu_quota``, ``nice``,
``watchdog``) describe the systemd unit: device profiles set them, and
``edge-agent install-service`` writes them into ``MemoryMax=``,
``CPUQuota=``, ``Nice=`` and ``WatchdogSec=``; changing them takes effect
when the unit is regenerated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.config.units import ByteSize, Duration


def _check_memory_max(value: int) -> None:
    if value and value < 32 * 1024 * 1024:
        raise ValueError(
            f"must be 0 (no limit) or at least 32MiB (the agent alone needs ~30MiB), got {value}"
        )


def _check_cpu_quota(value: int) -> None:
    if not 0 <= value <= 10_000:
        raise ValueError(f"must be a percentage of one CPU between 0 (no limit) and 10000, got {value}")


def _check_nice(value: int) -> None:
    if not -20 <= value <= 19:
        raise ValueError(f"must be between -20 and 19, got {value}")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class ServiceConfig:
    """``[service]``: watchdog, liveness, status line and the unit's resource budget."""

    stall_timeout: Duration = field(
        default=Duration(120.0),
        metadata={
            "help": "a stage (plugin, exporter, event loop) this late on its promised progress is wedged: "
            "the systemd watchdog pings stop and /healthz answers 503",
            "check": _check_positive,
        },
    )
    status_interval: Duration = field(
        default=Duration(30.0),
        metadata={
            "help": "how often the one-line STATUS= shown by systemctl status is refreshed",
            "check": _check_positive,
        },
    )
    watchdog: Duration = field(
        default=Duration(60.0),
        metadata={"help": "WatchdogSec= of the generated unit; 0 = no watchdog"},
    )
    memory_max: ByteSize = field(
        default=ByteSize(192 * 1024 * 1024),
        metadata={
            "help": "MemoryMax= of the generated unit (MemoryHigh= is 85% of it); 0 = no limit",
            "check": _check_memory_max,
        },
    )
    cpu_quota: int = field(
        default=50,
        metadata={
            "help": "CPUQuota= of the generated unit, percent of one CPU (200 = two cores); 0 = no limit",
            "check": _check_cpu_quota,
        },
    )
    nice: int = field(
        default=10, metadata={"help": "Nice= of the generated unit (-20..19)", "check": _check_nice}
    )
