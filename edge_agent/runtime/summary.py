"""The one-line service status (``STATUS=`` for ``systemctl status``), built from plain facts."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.runtime.ratelimit import humanize_duration

_MODES = {"reachable": "online", "unreachable": "offline", "unknown": "connecting"}


@dataclass(frozen=True)
class ServiceSummary:
    state: str  # starting | running | reloading | draining | stopped
    upstream: str  # unknown | reachable | unreachable
    queued_records: int
    queued_bytes: int
    last_export_unix: float | None
    plugins: int
    health: str = ""  # "live", or "wedged: ..." (empty when not checked)
    degradation: str = "normal"  # the adaptive mode: normal | constrained | offline | disk_pressure

    @property
    def mode(self) -> str:
        """The degradation mode when degraded, else what the upstream looks like."""
        if self.degradation and self.degradation != "normal":
            return self.degradation
        return _MODES.get(self.upstream, self.upstream)


def status_line(summary: ServiceSummary, now_unix: float) -> str:
    """E.g. ``running, online: queue 42 records (12KiB), last export 3s ago, 3 plugins``."""
    if summary.last_export_unix is None:
        last = "no export yet"
    else:
        last = f"last export {humanize_duration(now_unix - summary.last_export_unix)} ago"
    size = _size(summary.queued_bytes)
    line = (
        f"{summary.state}, {summary.mode}: queue {summary.queued_records} records ({size}), "
        f"{last}, {summary.plugins} plugin{'s' if summary.plugins != 1 else ''}"
    )
    if summary.health.startswith("wedged"):
        line = f"WEDGED{summary.health[len('wedged') :]}; {line}"
    return line


def _size(n: int) -> str:
    if n < 1024:
        return f"{n}B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f}KiB"
    return f"{n / (1024 * 1024):.1f}MiB"
