"""Component health for the fleet server, and the health window that judges a pushed config.

:func:`snapshot` reads the running agent into a :class:`Snapshot` (plain
values). Two pure things are built from snapshots:

* :func:`component_health`: the ``ComponentHealth`` tree reported over
  OpAMP: the pipeline's liveness, one entry per plugin instance, the
  buffer and the exporter (and the degradation mode once the scheduler
  reports one). Statuses are deliberately coarse (buffer fill in 10 %
  steps) so an idle agent's health does not change every poll and status
  compression can omit it.
* :class:`HealthWindow`: the verdict on a just-applied config. It fails
  when the pipeline stops being live (a stage wedged), when a plugin
  instance the new config started or restarted is failing, or, at the end
  of the window, when the new config replaced the exporter and the
  upstream, reachable before, is unreachable now. An upstream outage that
  has nothing to do with the config (the exporter was not touched) does not
  fail it: a device offline for a day must still take a config.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.fleet import messages as m


@dataclass(frozen=True)
class PluginView:
    name: str
    type: str
    state: str
    last_error: str | None


@dataclass(frozen=True)
class Snapshot:
    state: str  # pipeline stage: running | reloading | draining ...
    live: bool
    liveness: str
    started_unix: float
    plugins: tuple[PluginView, ...]
    buffer_kind: str
    queued_bytes: int
    max_bytes: int
    queued_records: int
    upstream: str  # unknown | reachable | unreachable
    export_ok: int  # successful export requests so far (of the current exporter)
    export_error: str | None
    endpoint: str
    export_warnings: str = ""  # certificate expiring, daily bandwidth budget used up ...
    mode: str = ""  # degradation mode, once the scheduler (issue 8) reports one
    extra: dict[str, Any] = field(default_factory=dict)


def _export_view(agent: Any) -> tuple[str, int, str | None, str, str]:
    status = agent.export_status  # the exporter's /status section
    return (
        status["upstream"],
        status["requests_ok"],
        status["last_error"],
        status["endpoint"],
        "; ".join(status.get("warnings", ())),
    )


def snapshot(agent: Any) -> Snapshot:
    """Read the agent's live state (cheap: counters and flags only)."""
    live, liveness = agent.health()
    upstream, ok, error, endpoint, warnings = _export_view(agent)
    buffer = agent.buffer
    plugins = tuple(PluginView(s.name, s.type, s.state, s.last_error) for s in agent.plugin_statuses)
    return Snapshot(
        state=agent.pipeline_state,
        live=live,
        liveness=liveness,
        started_unix=agent.started_unix,
        plugins=plugins,
        buffer_kind=getattr(buffer, "kind", "memory"),
        queued_bytes=buffer.queued_bytes(),
        max_bytes=getattr(buffer, "max_bytes", 0),
        queued_records=sum(buffer.queued_records().values()),
        upstream=upstream,
        export_ok=ok,
        export_error=error,
        endpoint=endpoint,
        export_warnings=warnings,
        mode=_mode(agent),
    )


def _mode(agent: Any) -> str:
    """The degradation mode of the adaptive controller (issue 8), if the agent has one."""
    adaptive = getattr(agent, "adaptive", None)
    mode = getattr(adaptive, "mode", None)
    return str(getattr(mode, "value", mode or ""))


def _node(
    healthy: bool, status: str, error: str | None = None, start_ns: int = 0, now_ns: int = 0
) -> m.ComponentHealth:
    return m.ComponentHealth(
        healthy=healthy,
        status=status,
        last_error="" if healthy or not error else error,
        start_time_unix_nano=start_ns,
        status_time_unix_nano=now_ns,
    )


def component_health(snap: Snapshot, *, now_ns: int | None = None) -> m.ComponentHealth:
    now = time.time_ns() if now_ns is None else now_ns
    start = int(snap.started_unix * 1e9)
    children: dict[str, m.ComponentHealth] = {
        "pipeline": _node(snap.live, snap.liveness, snap.liveness, start, now),
    }
    for plugin in snap.plugins:
        ok = plugin.state != "backoff"
        children[f"plugin/{plugin.name}"] = _node(
            ok, f"{plugin.type}: {plugin.state}", plugin.last_error, start, now
        )
    fill = (snap.queued_bytes * 100 // snap.max_bytes) if snap.max_bytes else 0
    bucket = min(100, fill // 10 * 10)
    buffer_ok = fill < 90
    children["buffer"] = _node(
        buffer_ok,
        f"{snap.buffer_kind}, {bucket}% full",
        "buffer nearly full: upstream too slow or down",
        start,
        now,
    )
    export_ok = snap.upstream != "unreachable"
    status = f"upstream {snap.upstream}" + (f"; {snap.export_warnings}" if snap.export_warnings else "")
    children["exporter"] = _node(export_ok, status, snap.export_error, start, now)
    if snap.mode:  # a degraded mode is the agent coping as designed, not a fault
        children["mode"] = _node(True, snap.mode, None, start, now)
    problems = [f"{name}: {c.last_error or c.status}" for name, c in children.items() if not c.healthy]
    healthy = (
        snap.live and snap.state in ("running", "reloading") and all(c.healthy for c in children.values())
    )
    state = snap.state if snap.mode in ("", "normal") else f"{snap.state} (degraded: {snap.mode})"
    top = _node(healthy, state, "; ".join(problems) or snap.liveness, start, now)
    for name, child in children.items():
        top.component_health_map[name].CopyFrom(child)
    return top


class HealthWindow:
    """Judges a just-applied config from snapshots (see the module docstring)."""

    def __init__(self, before: Snapshot, watched: Iterable[str], exporter_replaced: bool) -> None:
        self.before = before
        self.watched = frozenset(watched)
        self.exporter_replaced = exporter_replaced

    def check(self, now: Snapshot) -> str | None:
        """A reason to roll back right now, or None."""
        if not now.live:
            return f"the pipeline stopped making progress: {now.liveness}"
        for plugin in now.plugins:
            if plugin.name in self.watched and plugin.state == "backoff":
                return f"plugin {plugin.name} ({plugin.type}) keeps failing: {plugin.last_error}"
        return None

    def verdict(self, final: Snapshot) -> str | None:
        """The reason to roll back at the end of the window, or None (the config is good)."""
        reason = self.check(final)
        if reason is not None:
            return reason
        if self.exporter_replaced and self.before.upstream == "reachable" and final.upstream == "unreachable":
            return (
                f"the new exporter settings cannot deliver: upstream {final.endpoint} is unreachable "
                f"({final.export_error or 'no answer'}), and the previous settings could reach theirs"
            )
        return None
