"""Reconfiguration plans: which instances start, stop, restart or keep running, and what waits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edge_agent.buffer.config import BufferConfig
from edge_agent.config.schema import (
    AgentConfig,
    AgentSection,
    PluginInstanceConfig,
    ResourceSection,
    SelfTelemetryConfig,
)
from edge_agent.config.units import ByteSize, Duration
from edge_agent.export.config import ExporterConfig
from edge_agent.runtime.reconfig import SELF_TELEMETRY, changed_keys, plan_reconfigure
from edge_agent.systemd.config import ServiceConfig


@dataclass(frozen=True)
class Settings:
    path: str = "/x"


def _inst(name: str, **changes: object) -> PluginInstanceConfig:
    inst = PluginInstanceConfig(name=name, type="t", interval=Duration(10), settings=Settings())
    return dataclasses.replace(inst, **changes)  # type: ignore[arg-type]


BASE = AgentConfig(plugins=(_inst("a"), _inst("b"), _inst("c")))


def test_identical_config_changes_nothing() -> None:
    """Reloading the same config is a no-op: every instance keeps running."""
    plan = plan_reconfigure(BASE, BASE)
    assert plan.is_noop()
    assert plan.keep == ("a", "b", "c", SELF_TELEMETRY)
    assert plan.describe() == "no changes"


def test_only_changed_instances_restart() -> None:
    """Added, removed and changed instances are handled; the rest keep running untouched."""
    new = dataclasses.replace(
        BASE,
        plugins=(
            _inst("a"),
            _inst("b", interval=Duration(5)),
            _inst("d"),
            _inst("c", enabled=False),
        ),
    )
    plan = plan_reconfigure(BASE, new)
    assert plan.start == ("d",)
    assert plan.stop == ("c",)
    assert plan.restart == ("b",)
    assert plan.keep == ("a", SELF_TELEMETRY)
    assert not plan.replace_exporter
    assert plan.describe() == "plugins +d -c ~b"


def test_settings_compare_by_value_not_class_identity() -> None:
    """A rescanned plugin directory yields an equal but distinct settings class: no restart."""
    again = dataclasses.make_dataclass("Settings", [("path", str, "/x")], frozen=True)
    again.__module__ = __name__
    assert again is not Settings
    same = dataclasses.replace(BASE, plugins=(_inst("a", settings=again()), _inst("b"), _inst("c")))
    assert plan_reconfigure(BASE, same).is_noop()
    changed = dataclasses.replace(BASE, plugins=(_inst("a", settings=again("/y")), _inst("b"), _inst("c")))
    assert plan_reconfigure(BASE, changed).restart == ("a",)


def test_resource_change_restarts_every_instance() -> None:
    """Every instance's data carries the resource, so all restart when it changes."""
    new = dataclasses.replace(BASE, resource=ResourceSection({"site": "plant-3"}))
    plan = plan_reconfigure(BASE, new)
    assert plan.restart == ("a", "b", "c", SELF_TELEMETRY)
    assert plan.keep == ()


def test_exporter_change_replaces_the_exporter_only() -> None:
    """A changed [exporter] swaps the exporter and leaves the plugins alone."""
    new = dataclasses.replace(BASE, exporter=ExporterConfig(endpoint="https://10.0.0.5:4318"))
    plan = plan_reconfigure(BASE, new)
    assert plan.replace_exporter
    assert plan.restart == ()
    assert plan.describe() == "exporter replaced"


def test_self_telemetry_is_an_instance_like_the_others() -> None:
    """Disabling or retiming self-telemetry stops or restarts only that runner."""
    off = dataclasses.replace(BASE, self_telemetry=SelfTelemetryConfig(enabled=False))
    assert plan_reconfigure(BASE, off).stop == (SELF_TELEMETRY,)
    faster = dataclasses.replace(BASE, self_telemetry=SelfTelemetryConfig(interval=Duration(5)))
    assert plan_reconfigure(BASE, faster).restart == (SELF_TELEMETRY,)


def test_restart_only_keys_keep_running_values_and_are_reported() -> None:
    """state_dir, [buffer] and [admin] wait for a restart; the effective config says what runs."""
    new = dataclasses.replace(
        BASE,
        agent=AgentSection(state_dir="/elsewhere", log_level="debug"),
        buffer=BufferConfig(max_memory_bytes=ByteSize(1 << 20)),
    )
    plan = plan_reconfigure(BASE, new)
    assert plan.pending_restart == ("agent.state_dir", "buffer.max_memory_bytes")
    assert plan.live_keys == ("agent.log_level",)
    assert plan.effective.agent.state_dir == BASE.agent.state_dir
    assert plan.effective.agent.log_level == "debug"
    assert plan.effective.buffer == BASE.buffer
    assert "waiting for a restart: agent.state_dir, buffer.max_memory_bytes" in plan.describe()


def test_live_service_keys() -> None:
    """Liveness and status settings apply in place."""
    new = dataclasses.replace(BASE, service=ServiceConfig(stall_timeout=Duration(30)))
    plan = plan_reconfigure(BASE, new)
    assert plan.live_keys == ("service.stall_timeout",)
    assert not plan.is_noop()


def test_changed_keys_walks_nested_sections() -> None:
    """Dotted keys name exactly what differs, plugin instances by name."""
    new = dataclasses.replace(
        BASE,
        exporter=dataclasses.replace(BASE.exporter, timeout=Duration(3)),
        plugins=(_inst("a"), _inst("b", settings=Settings("/z"))),
    )
    assert changed_keys(BASE, new) == ["exporter.timeout", "plugins.b", "plugins.c"]
