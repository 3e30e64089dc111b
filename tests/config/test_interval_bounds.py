"""The adaptive interval bounds of plugin instances and the [adaptive] section, through the loader."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Priority
from edge_agent.runtime.agent import pacing_spec
from edge_agent.runtime.discovery import PluginRegistry


def load(tmp_path: Path, main: str) -> LoadedConfig:
    path = tmp_path / "agent.toml"
    path.write_text(textwrap.dedent(main))
    return load_config(main_path=path, environ={}, cli_sets=(), plugin_types=PluginRegistry.for_config)


def test_bounds_are_common_plugin_keys(tmp_path: Path) -> None:
    """min_interval and max_interval load on any plugin instance as durations."""
    loaded = load(
        tmp_path, '[plugins.hostmetrics]\ninterval = "10s"\nmin_interval = "2s"\nmax_interval = "5m"\n'
    )
    inst = loaded.config.plugins[0]
    assert (inst.min_interval, inst.interval, inst.max_interval) == (2.0, 10.0, 300.0)
    assert loaded.provenance["plugins.hostmetrics.max_interval"].endswith("agent.toml:4")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'interval = "10s"\nmin_interval = "20s"',
            r"plugins\.hostmetrics\.interval: must be at least min_interval \(20s\), got 10s",
        ),
        (
            'interval = "10s"\nmax_interval = "5s"',
            r"plugins\.hostmetrics\.max_interval: must be at least interval \(10s\), got 5s",
        ),
        ('min_interval = "0s"', r"plugins\.hostmetrics\.min_interval: must be greater than 0"),
        ('max_interval = "soon"', r"plugins\.hostmetrics\.max_interval: invalid duration 'soon'"),
    ],
)
def test_bad_bounds_name_the_key_and_file(tmp_path: Path, table: str, message: str) -> None:
    """min <= interval <= max is checked at load time, naming the key and where it came from."""
    with pytest.raises(ConfigError, match=message) as info:
        load(tmp_path, f"[plugins.hostmetrics]\n{table}\n")
    assert "agent.toml" in str(info.value)


def test_min_above_max_without_interval(tmp_path: Path) -> None:
    """An instance without its own interval still needs min_interval <= max_interval."""
    with pytest.raises(
        ConfigError, match=r"plugins\.hm2\.max_interval: must be at least min_interval \(60s\)"
    ):
        load(tmp_path, '[plugins.hm2]\ntype = "hostmetrics"\nmin_interval = "1m"\nmax_interval = "30s"\n')


def test_default_bounds(tmp_path: Path) -> None:
    """Unset bounds are interval / 4 and 6 x interval; a lone min above the default max lifts it."""
    loaded = load(tmp_path, '[plugins.hostmetrics]\ninterval = "10s"\n')
    spec = pacing_spec("hostmetrics", 10.0, Priority.NORMAL, loaded.config.plugins[0])
    assert (spec.minimum, spec.base, spec.maximum) == (2.5, 10.0, 60.0)
    loaded = load(tmp_path, '[plugins.hm2]\ntype = "hostmetrics"\nmin_interval = "2m"\n')
    spec = pacing_spec("hm2", 10.0, Priority.NORMAL, loaded.config.plugins[1])
    assert (spec.minimum, spec.base, spec.maximum) == (120.0, 120.0, 120.0)


def test_adaptive_section(tmp_path: Path) -> None:
    """[adaptive] and its sub-tables load; bad values are refused with the key."""
    loaded = load(
        tmp_path,
        """
        [adaptive]
        max_cpu_percent = 5
        host_cpu_high = 0.95
        [adaptive.anomaly]
        series = ["system.cpu.utilization{system.cpu.state=user}"]
        [adaptive.downsample]
        offline_priority = "normal"
        """,
    )
    adaptive = loaded.config.adaptive
    assert (adaptive.cpu_budget, adaptive.host_cpu_high) == (0.05, 0.95)
    assert adaptive.downsample.offline_priority is Priority.NORMAL
    with pytest.raises(ConfigError, match=r"adaptive\.anomaly\.series: invalid attribute filter 'x'"):
        load(tmp_path, '[adaptive.anomaly]\nseries = ["a{x}"]\n')
    with pytest.raises(ConfigError, match=r"adaptive: fill_low \(0.95\) must be below fill_high \(0.9\)"):
        load(tmp_path, "[adaptive]\nfill_low = 0.95\n")
    with pytest.raises(ConfigError, match=r"adaptive\.max_cpu_percent: must be a percentage in \(0, 100\]"):
        load(tmp_path, "[adaptive]\nmax_cpu_percent = 0\n")
