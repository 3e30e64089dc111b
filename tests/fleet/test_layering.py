"""The fleet layer: what a pushed config may not set, and where it sits among the layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError
from edge_agent.fleet.layering import remote_layer
from edge_agent.runtime.discovery import PluginRegistry


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('[fleet]\npublic_key_file = "/tmp/k"\n', "fleet", 2),
        ('[agent]\nlog_level = "debug"\nstate_dir = "/tmp"\n', "agent.state_dir", 3),
        ('[agent]\nplugin_dirs = ["/tmp"]\n', "agent.plugin_dirs", 2),
        ('[plugins.x]\ntype = "exec"\ncommand = ["id"]\n', "plugins.x.type", 2),
        ('[plugins.exec]\ncommand = ["id"]\n', "plugins.exec.type", 2),  # the table's first key
    ],
)
def test_forbidden_keys_are_refused_with_line(text: str, key: str, line: int) -> None:
    """Each rule names the key and the line of the pushed file."""
    with pytest.raises(ConfigError) as err:
        remote_layer(text, "fleet config v3", denied_plugin_types=("exec",))
    assert err.value.key == key
    assert err.value.origin == f"fleet config v3:{line}"


def test_allowed_config_becomes_a_layer() -> None:
    """A config within the rules parses into a tree whose origins name the pushed version."""
    tree = remote_layer(
        '[plugins.cpu]\ntype = "hostmetrics"\n', "fleet config v3", denied_plugin_types=("exec",)
    )
    assert tree["plugins"]["cpu"]["type"].origin == "fleet config v3:2"  # type: ignore[index, union-attr]


def test_local_denylist_can_allow_exec() -> None:
    """An empty remote_denied_plugin_types lets the fleet push exec plugins."""
    remote_layer('[plugins.x]\ntype = "exec"\ncommand = ["id"]\n', "v", denied_plugin_types=())


def test_fleet_layer_sits_between_main_file_and_conf_d(tmp_path: Path) -> None:
    """The pushed layer overrides the main file; conf.d drop-ins and --set override the pushed layer."""
    main = tmp_path / "agent.toml"
    main.write_text(
        '[agent]\nlog_level = "error"\nshutdown_grace = "1s"\n[resource.attributes]\nsite = "main"\n'
    )
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-local.toml").write_text('[agent]\nshutdown_grace = "5s"\n')
    layer = remote_layer(
        '[agent]\nlog_level = "debug"\nshutdown_grace = "9s"\n[resource.attributes]\nsite = "fleet"\n',
        "fleet config v1",
    )
    loaded = load_config(
        main_path=main,
        environ={},
        cli_sets=["resource.attributes.site=cli"],
        plugin_types=PluginRegistry.for_config,
        extra_layer=(layer, "fleet config v1"),
    )
    assert loaded.config.agent.log_level == "debug"  # fleet over main file
    assert loaded.config.agent.shutdown_grace == 5.0  # conf.d over fleet
    assert loaded.config.resource.attributes["site"] == "cli"  # --set over everything
    assert loaded.provenance["agent.log_level"] == "fleet config v1:2"
    assert loaded.files == (str(main), "fleet config v1", str(tmp_path / "conf.d" / "10-local.toml"))


def test_profile_by_path_is_refused() -> None:
    """A push may name a packaged profile, not a file on the device."""
    remote_layer('profile = "cellular-tracker"\n', "v")
    with pytest.raises(ConfigError, match="packaged device profile by name only") as err:
        remote_layer('profile = "/tmp/evil.toml"\n', "v")
    assert err.value.key == "profile"


def test_final_check_allows_profile_timing_but_not_trust(tmp_path: Path) -> None:
    """A pushed profile may change fleet timing keys; fleet trust keys coming from any layer are refused."""
    import dataclasses

    from edge_agent.fleet.layering import check_unchanged_local_keys

    main = tmp_path / "agent.toml"
    main.write_text('[fleet]\nendpoint = "http://fleet/v1/opamp"\npublic_key_file = "/etc/k.pub"\n')
    local = load_config(main_path=main, environ={}, plugin_types=PluginRegistry.for_config)
    layer = remote_layer('profile = "cellular-tracker"\n', "fleet config v2")
    pushed = load_config(
        main_path=main,
        environ={},
        plugin_types=PluginRegistry.for_config,
        extra_layer=(layer, "fleet config v2"),
    )
    assert pushed.config.fleet.poll_interval == 900  # from the profile the push selected
    check_unchanged_local_keys(pushed.config, local.config, "fleet config v2")
    other_key = dataclasses.replace(pushed.config.fleet, public_key_file="/tmp/attacker.pub")
    with pytest.raises(ConfigError, match="may not change this") as err:
        check_unchanged_local_keys(dataclasses.replace(pushed.config, fleet=other_key), local.config, "v2")
    assert err.value.key == "fleet"
    dirs = dataclasses.replace(pushed.config.agent, plugin_dirs=("/tmp",))
    with pytest.raises(ConfigError, match=r"agent\.plugin_dirs"):
        check_unchanged_local_keys(dataclasses.replace(pushed.config, agent=dirs), local.config, "v2")
