"""The reported effective config: redacted, with origins, and a hash of the settings alone."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.load import load_config
from edge_agent.fleet import effective
from edge_agent.runtime.discovery import PluginRegistry


def _load(tmp_path: Path, text: str, name: str = "agent.toml") -> object:
    path = tmp_path / name
    path.write_text(text)
    return load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)


def test_same_settings_from_different_files_hash_alike(tmp_path: Path) -> None:
    """Origins differ, settings do not: the settings hash is equal, the bodies are not."""
    a = _load(tmp_path, '[agent]\nlog_level = "debug"\n', "a.toml")
    b = _load(tmp_path, '\n\n[agent]\nlog_level = "debug"\n', "b.toml")
    body_a, hash_a = effective.render(a.config, a.provenance)  # type: ignore[attr-defined]
    body_b, hash_b = effective.render(b.config, b.provenance)  # type: ignore[attr-defined]
    assert hash_a == hash_b and body_a != body_b
    assert effective.settings_hash(body_a) == hash_a
    c = _load(tmp_path, '[agent]\nlog_level = "info"\n', "c.toml")
    assert effective.render(c.config, c.provenance)[1] != hash_a  # type: ignore[attr-defined]


def test_secrets_are_redacted(tmp_path: Path) -> None:
    """Exporter and fleet headers and a plugin's secret setting never leave the device in the effective config."""
    loaded = _load(
        tmp_path,
        '[exporter.headers]\nAuthorization = "Bearer s3cret"\n[fleet]\nendpoint = "http://f/v1/opamp"\n'
        '[fleet.headers]\nAuthorization = "Bearer fleet-s3cret"\n'
        '[plugins.otlp]\nbearer_token = "plugin-s3cret"\n',
    )
    body, _ = effective.render(loaded.config, loaded.provenance)  # type: ignore[attr-defined]
    assert b"s3cret" not in body
    assert body.count(b"<redacted>") >= 3


def test_foreign_body_is_hashed_whole() -> None:
    """A body without our header (another agent type) gets the SHA-256 of its bytes."""
    import hashlib

    assert effective.settings_hash(b"receivers: {}") == hashlib.sha256(b"receivers: {}").hexdigest()
