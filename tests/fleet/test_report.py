"""The report the agent sends: identity, host, labels; cached while the running config is the same object."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

from edge_agent.config.load import load_config
from edge_agent.fleet import messages as m
from edge_agent.fleet.report import ReportBuilder
from edge_agent.runtime.discovery import PluginRegistry


def _loaded(tmp_path: Path) -> object:
    path = tmp_path / "agent.toml"
    path.write_text(
        'profile = "pi-zero-2w"\n[fleet]\nendpoint = "http://f/v1/opamp"\nlabels = { ring = "canary" }\n'
    )
    return load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)


def test_description_carries_identity_profile_and_labels(tmp_path: Path) -> None:
    """service.* identify the agent; profile and fleet labels describe it (the server groups by labels)."""
    loaded = _loaded(tmp_path)
    agent = SimpleNamespace(config=loaded.config, device_id="dev-42")  # type: ignore[attr-defined]
    builder = ReportBuilder(loaded.config.fleet)  # type: ignore[attr-defined]
    desc = builder.description(agent)
    identity = m.attributes_of(desc.identifying_attributes)
    described = m.attributes_of(desc.non_identifying_attributes)
    assert identity["service.name"] == "edge-agent" and identity["service.instance.id"] == "dev-42"
    assert described["edge_agent.profile"] == "pi-zero-2w" and described["fleet.label.ring"] == "canary"
    assert described["os.type"] == "linux"


def test_cached_until_the_config_object_changes(tmp_path: Path) -> None:
    """The same config object reuses the built messages; a new one (a reload) rebuilds them."""
    loaded = _loaded(tmp_path)
    agent = SimpleNamespace(config=loaded.config, device_id="d")  # type: ignore[attr-defined]
    builder = ReportBuilder(loaded.config.fleet)  # type: ignore[attr-defined]
    assert builder.description(agent) is builder.description(agent)
    first = builder.effective_config(agent, loaded)  # type: ignore[arg-type]
    assert builder.effective_config(agent, loaded) is first  # type: ignore[arg-type]
    agent.config = dataclasses.replace(agent.config, profile="cellular-tracker")
    assert m.attributes_of(builder.description(agent).non_identifying_attributes)["edge_agent.profile"] == (
        "cellular-tracker"
    )
    assert builder.effective_config(agent, loaded) is not first  # type: ignore[arg-type]
