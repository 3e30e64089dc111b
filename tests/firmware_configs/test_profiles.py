"""Every device profile loads with the real loader, stays within its class's budget, and makes a valid unit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config.load import LoadedConfig, available_profiles, load_config
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.systemd.install import detect_systemd_version
from edge_agent.systemd.unit import UnitParams, render_unit
from tests import peers

MiB = 1024 * 1024
REQUIRED = {
    "raspberry-pi-4",
    "pi-zero-2w",
    "industrial-gateway-armv7-256mb",
    "cellular-tracker",
    "jetson-orin-nano",
}
# device class -> (RAM of the smallest supported board, memory budget it must stay within)
RAM = {
    "raspberry-pi-4": 1024 * MiB,
    "pi-zero-2w": 512 * MiB,
    "industrial-gateway-armv7-256mb": 256 * MiB,
    "cellular-tracker": 128 * MiB,
    "jetson-orin-nano": 4096 * MiB,
}


def _load(name: str) -> LoadedConfig:
    return load_config(
        main_path=None, environ={}, cli_sets=[f"profile={name}"], plugin_types=PluginRegistry.for_config
    )


def test_required_profiles_exist() -> None:
    """The device classes the fleet supports all ship a profile."""
    assert set(available_profiles()) >= REQUIRED


@pytest.mark.parametrize("name", available_profiles())
def test_profile_loads_and_every_value_comes_from_it_or_defaults(name: str) -> None:
    """The real loader accepts the profile (unknown keys, bad values and plugins would fail here)."""
    loaded = _load(name)
    assert loaded.config.profile == name
    origins = {o.split(":")[0] for o in loaded.provenance.values()}
    allowed = {"default", "default (the instance name)", "embedded default.toml", "--set profile"}
    assert origins <= allowed | {f"profile {name} ({name}.toml)"}


@pytest.mark.parametrize("name", sorted(RAM))
def test_profile_budgets_fit_the_device_class(name: str) -> None:
    """The unit's memory limit leaves half the smallest board's RAM to the rest; the queue fits the limit."""
    config = _load(name).config
    assert 0 < config.service.memory_max <= RAM[name] // 2
    assert config.buffer.max_memory_bytes <= config.service.memory_max // 4
    assert 0 < config.service.cpu_quota <= 100
    assert config.buffer.kind == "disk"  # every class keeps accepted data across restarts
    assert 4 * MiB <= config.buffer.max_disk_bytes <= RAM[name] * 2
    hostmetrics = next(p for p in config.plugins if p.name == "hostmetrics")
    assert hostmetrics.interval is not None and hostmetrics.interval >= 10


def test_metered_profile_polls_and_reports_rarely() -> None:
    """The cellular profile wakes the radio rarely: long fleet poll, long scrape, big batches."""
    config = _load("cellular-tracker").config
    assert config.fleet.poll_interval >= 600
    assert config.self_telemetry.interval >= 3600
    assert config.exporter.batch.max_bytes >= 1 * MiB
    assert 0 < config.exporter.bandwidth.max_bytes_per_day <= 64 * MiB
    assert config.buffer.replay == "fresh_first"


@pytest.mark.parametrize("name", available_profiles())
def test_profile_renders_a_unit_systemd_accepts(name: str, tmp_path: Path) -> None:
    """The unit rendered from each profile's [service] budget passes systemd-analyze verify."""
    config = _load(name).config
    unit_text = render_unit(
        UnitParams(
            exec_path=str(Path(sys.executable).parent / "edge-agent"),
            service=config.service,
            shutdown_grace=config.agent.shutdown_grace,
            version="test",
            profile=name,
            systemd_version=detect_systemd_version(),
        )
    )
    assert f"MemoryMax={config.service.memory_max}" in unit_text
    analyze = peers.require("systemd-analyze")
    unit = tmp_path / "edge-agent.service"
    unit.write_text(unit_text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")
