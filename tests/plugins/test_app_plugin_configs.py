"""The application plugins' configs: no clash with common keys, and every docs/plugins.md example loads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from edge_agent.config.load import load_config
from edge_agent.config.schema import PLUGIN_COMMON_KEYS
from edge_agent.runtime.discovery import PluginRegistry

APP_PLUGINS = ("otlp", "filelog", "journald", "statsd", "prometheus", "exec")
DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


@pytest.mark.parametrize("name", APP_PLUGINS)
def test_plugin_keys_do_not_shadow_common_keys(name: str) -> None:
    """A plugin key named like a common key (priority, interval ...) could never be set: none is."""
    fields = {f.name for f in dataclasses.fields(PluginRegistry.discover().config_class(name))}
    assert not fields & set(PLUGIN_COMMON_KEYS)


def _examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("example", _examples())
def test_docs_examples_are_valid_configs(example: str, tmp_path: Path) -> None:
    """Each TOML example in docs/plugins.md passes the real config loader."""
    path = tmp_path / "agent.toml"
    path.write_text(example)
    loaded = load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)
    assert {p.type for p in loaded.config.plugins} & set(APP_PLUGINS)
