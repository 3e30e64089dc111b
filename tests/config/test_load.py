"""Layered loading: precedence, origins, and precise errors for every bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Priority
from edge_agent.runtime.discovery import PluginRegistry


def load(
    tmp_path: Path,
    main: str | None = None,
    *,
    env: dict[str, str] | None = None,
    sets: tuple[str, ...] = (),
    dropins: dict[str, str] | None = None,
) -> LoadedConfig:
    path = None
    if main is not None:
        path = tmp_path / "agent.toml"
        path.write_text(textwrap.dedent(main))
    for name, text in (dropins or {}).items():
        (tmp_path / "conf.d").mkdir(exist_ok=True)
        (tmp_path / "conf.d" / name).write_text(textwrap.dedent(text))
    return load_config(
        main_path=path, environ=env or {}, cli_sets=sets, plugin_types=PluginRegistry.for_config
    )


def test_embedded_defaults(tmp_path: Path) -> None:
    """With no file at all: hostmetrics every 10 s, exporting to 127.0.0.1:4318."""
    loaded = load(tmp_path)
    (hostmetrics,) = loaded.config.plugins
    assert (hostmetrics.name, hostmetrics.type, hostmetrics.interval) == ("hostmetrics", "hostmetrics", 10.0)
    assert loaded.config.exporter.endpoint == "http://127.0.0.1:4318"
    assert loaded.provenance["exporter.endpoint"] == "default"
    assert loaded.provenance["plugins.hostmetrics.interval"].startswith("embedded default.toml:")


def test_layer_precedence(tmp_path: Path) -> None:
    """defaults < profile < main < conf.d (sorted) < env < --set, each value keeps its origin."""
    loaded = load(
        tmp_path,
        """
        profile = "raspberry-pi-4"
        [exporter]
        endpoint = "https://main:4318"
        timeout = "3s"
        compression = "none"
        [buffer]
        max_memory_bytes = "1MiB"
        """,
        dropins={
            "10-a.toml": '[exporter]\ntimeout = "4s"\n',
            "20-b.toml": '[exporter]\ntimeout = "5s"\nendpoint = "https://dropin:4318"\n',
        },
        env={
            "EDGE_AGENT__EXPORTER__ENDPOINT": "https://env:4318",
            "EDGE_AGENT__EXPORTER__COMPRESSION": "zstd",
            "UNRELATED": "x",
        },
        sets=("exporter.compression=gzip",),
    )
    cfg, prov = loaded.config, loaded.provenance
    assert cfg.exporter.timeout == 5.0
    assert prov["exporter.timeout"].endswith("20-b.toml:2")
    assert cfg.exporter.endpoint == "https://env:4318"
    assert prov["exporter.endpoint"] == "env EDGE_AGENT__EXPORTER__ENDPOINT"
    assert cfg.exporter.compression == "gzip"
    assert prov["exporter.compression"] == "--set exporter.compression"
    assert cfg.buffer.max_memory_bytes == 1 << 20
    # the profile sets hostmetrics' interval to 15s and sits below the main file
    assert cfg.plugins[0].interval == 15.0
    assert prov["plugins.hostmetrics.interval"].startswith("profile raspberry-pi-4")
    assert loaded.files[0].endswith("raspberry-pi-4.toml")


def test_env_values_are_coerced_to_field_types(tmp_path: Path) -> None:
    """Environment strings become ints, bools, durations, lists as the field requires."""
    loaded = load(
        tmp_path,
        env={
            "EDGE_AGENT__ADMIN__ENABLED": "false",
            "EDGE_AGENT__EXPORTER__RETRY_ON_FAILURE__MULTIPLIER": "2",
            "EDGE_AGENT__PLUGINS__HOSTMETRICS__INTERVAL": "250ms",
            "EDGE_AGENT__PLUGINS__HOSTMETRICS__SCRAPERS": "cpu,memory",
            "EDGE_AGENT__PLUGINS__HOSTMETRICS__PRIORITY": "critical",
        },
    )
    cfg = loaded.config
    assert cfg.admin.enabled is False
    assert cfg.exporter.retry_on_failure.multiplier == 2.0
    (hm,) = cfg.plugins
    assert hm.interval == 0.25
    assert hm.settings.scrapers == ("cpu", "memory")
    assert hm.priority is Priority.CRITICAL


def test_unknown_key_has_did_you_mean_and_line(tmp_path: Path) -> None:
    """A typo names the full key, suggests the right one and points at file:line."""
    with pytest.raises(ConfigError) as err:
        load(tmp_path, '[exporter]\nendpoint = "http://x:1"\ncompresion = "gzip"\n')
    message = str(err.value)
    assert "exporter.compresion: unknown key; did you mean 'compression'?" in message
    assert f"{tmp_path / 'agent.toml'}:3" in message


def test_wrong_type_names_key_and_origin(tmp_path: Path) -> None:
    """A value of the wrong type is refused with the key path, expectation and origin."""
    with pytest.raises(ConfigError, match=r"exporter\.timeout: invalid duration 'soon'.*agent\.toml:2"):
        load(tmp_path, '[exporter]\ntimeout = "soon"\n')
    with pytest.raises(
        ConfigError,
        match=r"admin\.enabled: expected true or false, got 'yes please'.*env EDGE_AGENT__ADMIN__ENABLED",
    ):
        load(tmp_path, env={"EDGE_AGENT__ADMIN__ENABLED": "yes please"})
    with pytest.raises(
        ConfigError, match=r"exporter\.compression: must be one of 'gzip', 'zstd', 'none', got 'lz4'"
    ):
        load(tmp_path, sets=("exporter.compression=lz4",))


def test_table_where_value_expected(tmp_path: Path) -> None:
    """A table given for a scalar key is named precisely."""
    with pytest.raises(ConfigError, match=r"exporter\.endpoint: expected a string, got a table"):
        load(tmp_path, "[exporter.endpoint]\nhost = 'x'\n")


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    """A syntax error reports the parser's position and the file."""
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2.*agent\.toml"):
        load(tmp_path, "[exporter]\nendpoint = \n")


def test_missing_main_file(tmp_path: Path) -> None:
    """A --config path that does not exist is one clear sentence."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(main_path=tmp_path / "nope.toml", environ={}, plugin_types=PluginRegistry.for_config)


def test_unknown_profile_suggests(tmp_path: Path) -> None:
    """A misspelled profile name gets a did-you-mean from the shipped profiles."""
    with pytest.raises(
        ConfigError, match=r"profile: unknown device profile 'raspbery-pi-4'; did you mean 'raspberry-pi-4'"
    ):
        load(tmp_path, 'profile = "raspbery-pi-4"\n')


def test_unknown_plugin_type(tmp_path: Path) -> None:
    """An unknown plugin type names the instance and suggests a known type."""
    with pytest.raises(
        ConfigError, match=r"plugins\.hm\.type: unknown plugin type 'hostmetric'; did you mean 'hostmetrics'"
    ):
        load(tmp_path, '[plugins.hm]\ntype = "hostmetric"\n')


def test_plugin_settings_validated(tmp_path: Path) -> None:
    """Plugin-specific keys go through the plugin's config class: typos and bad values are errors."""
    with pytest.raises(
        ConfigError, match=r"plugins\.hostmetrics\.per_cpus: unknown key; did you mean 'per_cpu'"
    ):
        load(tmp_path, "[plugins.hostmetrics]\nper_cpus = true\n")
    with pytest.raises(ConfigError, match=r"plugins\.hostmetrics\.scrapers: unknown scraper\(s\) gpu"):
        load(tmp_path, '[plugins.hostmetrics]\nscrapers = ["cpu", "gpu"]\n')


def test_two_instances_of_one_type(tmp_path: Path) -> None:
    """Instances are named tables; `type` lets one plugin run twice with different settings."""
    loaded = load(tmp_path, '[plugins.fast_cpu]\ntype = "hostmetrics"\ninterval = "1s"\nscrapers = ["cpu"]\n')
    names = {p.name: p for p in loaded.config.plugins}
    assert set(names) == {"hostmetrics", "fast_cpu"}
    assert names["fast_cpu"].settings.scrapers == ("cpu",)


def test_disabling_default_plugin(tmp_path: Path) -> None:
    """A layer can switch off a plugin enabled by a lower layer."""
    loaded = load(tmp_path, "[plugins.hostmetrics]\nenabled = false\n")
    assert loaded.config.plugins[0].enabled is False


def test_validators_run_on_cross_field_rules(tmp_path: Path) -> None:
    """Dataclass-level rules (max_interval >= initial_interval) report the section."""
    with pytest.raises(
        ConfigError, match=r"exporter\.retry_on_failure: .*max_interval must be >= initial_interval"
    ):
        load(tmp_path, '[exporter.retry_on_failure]\ninitial_interval = "1m"\nmax_interval = "10s"\n')


def test_malformed_env_and_set(tmp_path: Path) -> None:
    """Bad override syntax is refused, naming the variable or flag."""
    with pytest.raises(ConfigError, match="malformed variable name 'EDGE_AGENT__EXPORTER____X'"):
        load(tmp_path, env={"EDGE_AGENT__EXPORTER____X": "1"})
    with pytest.raises(ConfigError, match=r"--set expects key\.path=value"):
        load(tmp_path, sets=("exporter.endpoint",))


def test_plugin_dir_missing_is_config_error(tmp_path: Path) -> None:
    """A plugin directory that does not exist is reported against agent.plugin_dirs."""
    with pytest.raises(ConfigError, match=r"agent\.plugin_dirs: plugin directory not found"):
        load(tmp_path, f'[agent]\nplugin_dirs = ["{tmp_path / "missing"}"]\n')


def test_empty_tables_keep_lower_layers(tmp_path: Path) -> None:
    """An empty [exporter] table in the main file does not wipe values set below it."""
    loaded = load(tmp_path, "[exporter]\n[plugins.hostmetrics]\n", env={})
    assert loaded.config.exporter.endpoint == "http://127.0.0.1:4318"
    assert loaded.config.plugins[0].interval == 10.0


def test_required_plugin_key_missing(tmp_path: Path) -> None:
    """A plugin setting without a default must be given; the error names it and its help."""
    with pytest.raises(ConfigError, match=r"plugins\.t\.files: required key is missing"):
        load(tmp_path, '[plugins.t]\ntype = "file_gauge"\n')
