"""credential:NAME config values resolve to $CREDENTIALS_DIRECTORY/NAME, with precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config.credentials import resolve_credentials
from edge_agent.config.load import load_config
from edge_agent.config.sources import Leaf, load_toml_text
from edge_agent.errors import ConfigError
from edge_agent.runtime.discovery import PluginRegistry


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "client.key").write_text("KEY")
    (directory / "token").write_text("TOKEN")
    return directory


def test_credential_values_become_paths(creds: Path) -> None:
    """Strings (also inside lists, at any depth) starting with credential: are resolved."""
    tree = load_toml_text(
        'a = "credential:client.key"\nb = ["credential:token", "plain"]\n[x.y]\nc = "credential:token"\nd = 3\n',
        "agent.toml",
    )
    out = resolve_credentials(tree, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert out["a"] == Leaf(str(creds / "client.key"), "agent.toml:1")
    assert out["b"].value == [str(creds / "token"), "plain"]  # type: ignore[union-attr]
    assert out["x"]["y"]["c"].value == str(creds / "token")  # type: ignore[index]
    assert out["x"]["y"]["d"] is tree["x"]["y"]["d"]  # type: ignore[index]


def test_tree_without_credentials_is_left_alone() -> None:
    """No credential: values, no $CREDENTIALS_DIRECTORY needed."""
    tree = load_toml_text('a = "credentials are fine in text"\n', "t")
    assert resolve_credentials(tree, {}) == tree


def test_missing_credentials_directory_names_key_file_and_fix() -> None:
    """Outside systemd the error says which key, where, and which LoadCredential= line to add."""
    tree = load_toml_text('\n[exporter]\nkey = "credential:client.key"\n', "/etc/edge-agent/agent.toml")
    with pytest.raises(ConfigError) as info:
        resolve_credentials(tree, {})
    message = str(info.value)
    assert message.startswith("exporter.key: credential 'client.key' needs $CREDENTIALS_DIRECTORY")
    assert "LoadCredential=client.key:/etc/edge-agent/credentials/client.key" in message
    assert message.endswith("(from /etc/edge-agent/agent.toml:3)")


def test_credential_the_unit_does_not_load(creds: Path) -> None:
    """A name with no file in the credentials directory is an error naming it."""
    tree = load_toml_text('k = "credential:other.key"\n', "agent.toml")
    with pytest.raises(ConfigError, match=r"k: credential 'other.key' not found in \$CREDENTIALS_DIRECTORY"):
        resolve_credentials(tree, {"CREDENTIALS_DIRECTORY": str(creds)})


@pytest.mark.parametrize("name", ["", "..", ".", "a/b", "../client.key"])
def test_invalid_names_are_refused(creds: Path, name: str) -> None:
    """Names that could escape the directory are refused before touching the disk."""
    tree = {"k": Leaf(f"credential:{name}", "agent.toml:1")}
    with pytest.raises(ConfigError, match="invalid credential name"):
        resolve_credentials(tree, {"CREDENTIALS_DIRECTORY": str(creds)})


def test_load_config_resolves_credentials_from_every_layer(creds: Path, tmp_path: Path) -> None:
    """Files, environment and --set values may all name credentials."""
    main = tmp_path / "agent.toml"
    main.write_text('[exporter.headers]\nauthorization-file = "credential:token"\n')
    loaded = load_config(
        main_path=main,
        environ={
            "CREDENTIALS_DIRECTORY": str(creds),
            "EDGE_AGENT__AGENT__STATE_DIR": "credential:client.key",
        },
        cli_sets=["resource.attributes.key_path=credential:client.key"],
        plugin_types=PluginRegistry.for_config,
    )
    config = loaded.config
    assert config.exporter.headers["authorization-file"] == str(creds / "token")
    assert config.agent.state_dir == str(creds / "client.key")
    assert config.resource.attributes["key_path"] == str(creds / "client.key")
    assert loaded.provenance["agent.state_dir"] == "env EDGE_AGENT__AGENT__STATE_DIR"
