"""Secret config fields: hidden in check-config and config errors; secret files checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.config.render import render_config
from edge_agent.config.secrets import check_secret_files, secret_files, secret_keys
from edge_agent.errors import ConfigError
from edge_agent.runtime.discovery import PluginRegistry

TOKEN = "tok-8c1e0b77d2"


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> LoadedConfig:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return load_config(main_path=path, environ=env or {}, plugin_types=PluginRegistry.for_config)


def test_secret_fields_are_listed_and_rendered_redacted(tmp_path: Path) -> None:
    """A literal bearer token is a secret key: check-config shows "<redacted>", never the value."""
    loaded = load(tmp_path, f'[plugins.otlp]\nbearer_token = "{TOKEN}"\n')
    assert "plugins.otlp.bearer_token" in secret_keys(loaded.config)
    text = render_config(loaded.config, loaded.provenance)
    assert TOKEN not in text
    assert 'bearer_token = "<redacted>"' in text


def test_secret_from_environment_is_redacted_too(tmp_path: Path) -> None:
    """A token set through EDGE_AGENT__... never reaches the rendered config."""
    loaded = load(tmp_path, "[plugins.otlp]\n", env={"EDGE_AGENT__PLUGINS__OTLP__BEARER_TOKEN": TOKEN})
    assert TOKEN not in render_config(loaded.config, loaded.provenance)


def test_bad_secret_value_error_does_not_quote_it(tmp_path: Path) -> None:
    """A secret of the wrong type is an error that names the key and type, not the value."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[plugins.otlp]\nbearer_token = 918273645\n")
    message = str(info.value)
    assert message.startswith(
        "plugins.otlp.bearer_token: invalid value for a secret setting, expected a string"
    )
    assert "918273645" not in message


def test_secret_files_are_found_in_every_section(tmp_path: Path) -> None:
    """secret_file fields of admin, plugins and processors are listed with their keys (disabled ones skipped)."""
    loaded = load(
        tmp_path,
        '[admin]\nbearer_token_file = "/a"\n'
        '[plugins.otlp]\nbearer_token_file = "/b"\n'
        '[plugins.off]\ntype = "otlp"\nenabled = false\nendpoint = "127.0.0.1:4319"\nbearer_token_file = "/c"\n'
        '[processors.h]\ntype = "redact"\nkeys = ["x"]\naction = "hash"\nhash_key_file = "/d"\n',
    )
    assert secret_files(loaded.config) == [
        ("admin.bearer_token_file", "/a"),
        ("plugins.otlp.bearer_token_file", "/b"),
        ("processors.h.hash_key_file", "/d"),
    ]


def test_check_secret_files_refuses_a_world_readable_file(tmp_path: Path) -> None:
    """At start, a world-readable hash key file stops everything with its key and the fix."""
    key = tmp_path / "hash.key"
    key.write_text("k" * 32)
    key.chmod(0o644)
    loaded = load(
        tmp_path,
        f'[processors.h]\ntype = "redact"\nkeys = ["x"]\naction = "hash"\nhash_key_file = "{key}"\n',
    )
    with pytest.raises(ConfigError, match=rf"processors\.h\.hash_key_file: .*chmod 600 {key}"):
        check_secret_files(loaded.config, {})
    key.chmod(0o600)
    check_secret_files(loaded.config, {})
