"""Start-up with the fleet: the last-known-good pushed config, or the local one when it cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.fleet.boot import boot
from edge_agent.fleet.staging import ConfigRecord, ConfigStore
from edge_agent.runtime.discovery import PluginRegistry
from tests.fleet.harness import loader_for


def _setup(tmp_path: Path, pushed: str) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\nlog_level = "info"\n'
        '[fleet]\nenabled = true\nendpoint = "http://127.0.0.1:9/v1/opamp"\n'
    )
    store = ConfigStore(tmp_path / "state")
    store.commit(ConfigRecord(pushed.encode(), b"sig", b"hash", 4, "2026-01-01T00:00:00Z"))
    return config


def test_boot_runs_the_committed_config(tmp_path: Path) -> None:
    """The committed pushed config is the fleet layer at start."""
    config = _setup(tmp_path, '[agent]\nlog_level = "debug"\n')
    load = loader_for(config)
    started = boot(load(None, PluginRegistry.for_config), load, tmp_path / "state", PluginRegistry.for_config)
    assert started.running is not None and started.running.version == 4
    assert started.loaded.config.agent.log_level == "debug"
    assert started.loaded.provenance["agent.log_level"] == "fleet config v4:2"


def test_boot_falls_back_to_local_when_the_committed_config_no_longer_loads(tmp_path: Path) -> None:
    """A committed config that fails today (e.g. a plugin was removed) leaves the local config running."""
    config = _setup(tmp_path, '[plugins.gone]\ntype = "no-such-plugin"\n')
    load = loader_for(config)
    started = boot(load(None, PluginRegistry.for_config), load, tmp_path / "state", PluginRegistry.for_config)
    assert started.running is None and "no longer loads" in started.problem
    assert [p.name for p in started.loaded.config.plugins] == ["hostmetrics"]


def test_check_config_shows_the_pushed_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check-config prints what runs: local files plus the last-known-good pushed config, with origins."""
    config = _setup(tmp_path, '[agent]\nlog_level = "debug"\n')
    assert main(["check-config", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "fleet config v4" in out.splitlines()[1]  # the files line names the layer
    assert 'log_level = "debug"' in out and "# fleet config v4:2" in out
    assert not (tmp_path / "state" / "fleet" / "staged.cbor").exists()
