"""What a new config changes in a running agent: a plan, computed without touching anything.

Theory of operation: live reconfiguration (SIGHUP, and the fleet client's
remote configs) goes through :func:`plan_reconfigure`, which compares the
running config with a validated new one and decides, per part:

* **plugin instances** (``[plugins.*]`` and the internal ``self_telemetry``
  scraper) are *started*, *stopped*, *restarted* or *kept*. An instance is
  restarted only when its own table changed, or when ``[resource]`` changed
  (every instance's data carries the resource). Unchanged instances keep
  running untouched, with their schedule and state.
* the **exporter** is replaced when ``[exporter]`` changed; the buffer,
  and everything in it, stays.
* **live settings** (``agent.log_level``, ``agent.shutdown_grace``,
  ``agent.plugin_dirs``, ``service.stall_timeout``,
  ``service.status_interval``) simply take effect.
* **restart-only keys** (``agent.state_dir``, ``[buffer]``, ``[admin]``, ``[fleet]``)
  keep their running values: the plan's ``effective`` config says what
  actually runs, and ``pending_restart`` lists the keys that wait for the
  next process start. The unit's budget keys (``service.memory_max`` ...)
  take effect when ``edge-agent install-service`` regenerates the unit.

The agent applies a plan in :meth:`edge_agent.runtime.agent.Agent.reconfigure`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edge_agent.config.schema import AgentConfig, PluginInstanceConfig

SELF_TELEMETRY = "self_telemetry"

# sections (or single keys) that only take effect when the process starts
RESTART_ONLY = ("agent.state_dir", "buffer", "admin", "fleet")


@dataclass(frozen=True)
class ReconfigPlan:
    effective: AgentConfig
    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    replace_exporter: bool = False
    live_keys: tuple[str, ...] = ()  # changed settings that apply in place
    pending_restart: tuple[str, ...] = ()

    def is_noop(self) -> bool:
        return not (self.start or self.stop or self.restart or self.replace_exporter or self.live_keys)

    def describe(self) -> str:
        """One line for the log, e.g. ``plugins +cpu2 -disk ~hostmetrics; exporter replaced``."""
        parts = []
        marks = [f"+{n}" for n in self.start] + [f"-{n}" for n in self.stop] + [f"~{n}" for n in self.restart]
        if marks:
            parts.append("plugins " + " ".join(marks))
        if self.replace_exporter:
            parts.append("exporter replaced")
        if self.live_keys:
            parts.append("changed " + ", ".join(self.live_keys))
        if self.pending_restart:
            parts.append("waiting for a restart: " + ", ".join(self.pending_restart))
        return "; ".join(parts) if parts else "no changes"


def instance_specs(config: AgentConfig) -> dict[str, Any]:
    """Every runner the config asks for, keyed by instance name, as comparable values."""
    specs: dict[str, Any] = {inst.name: comparable(inst) for inst in config.plugins if inst.enabled}
    if config.self_telemetry.enabled:
        specs[SELF_TELEMETRY] = config.self_telemetry
    return specs


def comparable(inst: PluginInstanceConfig) -> tuple[Any, ...]:
    """An instance's config as plain values.

    Plugin settings are compared by class name and field values, not class
    identity: a plugin directory scanned again on reload yields new (equal)
    classes, and that alone must not restart its instances.
    """
    settings = inst.settings
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        cls = type(settings)
        settings = (f"{cls.__module__}.{cls.__qualname__}", dataclasses.asdict(settings))
    bounds = (inst.min_interval, inst.max_interval)
    return (inst.type, inst.enabled, inst.interval, inst.jitter, inst.priority, bounds, settings)


def plan_reconfigure(old: AgentConfig, new: AgentConfig) -> ReconfigPlan:
    """Compare the running ``old`` config with a validated ``new`` one; see the module docstring."""
    effective = _keep_restart_only(old, new)
    before, after = instance_specs(old), instance_specs(effective)
    resource_changed = old.resource != effective.resource
    restart = tuple(
        name for name in after if name in before and (resource_changed or before[name] != after[name])
    )
    live = [
        key
        for key in changed_keys(old, effective)
        if not key.startswith(("plugins", "exporter", "self_telemetry", "resource"))
    ]
    return ReconfigPlan(
        effective=effective,
        start=tuple(name for name in after if name not in before),
        stop=tuple(name for name in before if name not in after),
        restart=restart,
        keep=tuple(name for name in after if name in before and name not in restart),
        replace_exporter=old.exporter != effective.exporter,
        live_keys=tuple(live),
        pending_restart=tuple(k for k in changed_keys(old, new) if k.startswith(RESTART_ONLY)),
    )


def _keep_restart_only(old: AgentConfig, new: AgentConfig) -> AgentConfig:
    return dataclasses.replace(
        new,
        buffer=old.buffer,
        admin=old.admin,
        fleet=old.fleet,
        agent=dataclasses.replace(new.agent, state_dir=old.agent.state_dir),
    )


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dataclasses (plugins by instance)."""
    if isinstance(old, tuple) and prefix == "plugins":
        return _changed_plugins(old, new)
    if not (dataclasses.is_dataclass(old) and type(old) is type(new)):
        return [prefix] if old != new else []
    keys: list[str] = []
    for fld in dataclasses.fields(old):
        key = f"{prefix}.{fld.name}" if prefix else fld.name
        keys.extend(changed_keys(getattr(old, fld.name), getattr(new, fld.name), key))
    return keys


def _changed_plugins(old: tuple[Any, ...], new: tuple[Any, ...]) -> list[str]:
    before = {inst.name: comparable(inst) for inst in old}
    after = {inst.name: comparable(inst) for inst in new}
    names = sorted(set(before) | set(after))
    return [f"plugins.{n}" for n in names if before.get(n) != after.get(n)]
