"""The attributes and resource processors: delete, rename, set, add, and values from env, files, the agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Signal
from edge_agent.processors.attributes import AttributeEditor, AttributesProcessor, ResourceProcessor
from edge_agent.processors.config import ProcessorInstanceConfig, ResourceConfig
from edge_agent.processors.factory import build_chain, read_value_file
from tests.processors.helpers import apply, data_points, kv, log_records, logs, metrics

ALL = frozenset(Signal)


def test_actions_apply_in_order_delete_rename_set_add() -> None:
    """delete, then rename (replacing an existing target), then set (upsert), then add (insert only)."""
    editor = AttributeEditor(
        delete=("k8s.*",),
        rename={"old": "new", "a": "b"},
        set={"env": "prod", "n": 3},
        add={"team": "edge", "b": "not written"},
    )
    fragment = logs(
        ("x", {"k8s.pod": "p", "old": "o", "new": "stale", "a": 1, "env": "dev", "keep": True}, 9)
    )
    message, tally = apply(AttributesProcessor("tidy", editor, ALL), fragment)
    assert kv(log_records(message)[0].attributes) == {
        "new": "o",
        "b": 1,
        "env": "prod",
        "keep": True,
        "n": 3,
        "team": "edge",
    }
    assert tally.changed


def test_value_types_are_written_as_their_any_value_kind() -> None:
    """Strings, ints, floats and booleans become string, int, double and bool AnyValues."""
    editor = AttributeEditor(set={"s": "x", "i": 7, "f": 0.5, "b": False})
    message, _ = apply(AttributesProcessor("t", editor, ALL), metrics(("m", [(None, 1.0)])))
    point = data_points(message)[0][1]
    kinds = {a.key: a.value.WhichOneof("value") for a in point.attributes}
    assert kinds == {"s": "string_value", "i": "int_value", "f": "double_value", "b": "bool_value"}


def test_unchanged_records_leave_the_tally_unchanged() -> None:
    """Deleting or renaming keys that are absent changes nothing."""
    editor = AttributeEditor(delete=("absent",), rename={"nope": "other"})
    _, tally = apply(AttributesProcessor("t", editor, ALL), logs(("x", {"a": "b"}, 9)))
    assert not tally.changed


def test_resource_processor_edits_only_the_resource() -> None:
    """The resource processor adds to the resource; record attributes stay as they were."""
    processor = ResourceProcessor("site", AttributeEditor(set={"site": "plant-3"}), ALL)
    message, _ = apply(processor, logs(("x", {"a": "b"}, 9), resource={"service.name": "app"}))
    assert kv(message.resource_logs[0].resource.attributes) == {"service.name": "app", "site": "plant-3"}
    assert kv(log_records(message)[0].attributes) == {"a": "b"}


def _resource_config(**settings: object) -> ProcessorInstanceConfig:
    return ProcessorInstanceConfig(name="enrich", type="resource", settings=ResourceConfig(**settings))  # type: ignore[arg-type]


def test_resource_values_from_env_file_and_agent_attributes(tmp_path: Path) -> None:
    """from_env and from_file are read once at build time (set); agent attributes fill gaps (add)."""
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    chain = build_chain(
        (
            _resource_config(
                from_env={"fleet.group": "FLEET_GROUP"},
                from_file={"hw.revision": str(model)},
                agent_attributes=True,
            ),
        ),
        environ={"FLEET_GROUP": "north"},
        agent_attributes={"site": "plant-3", "service.name": "edge-agent"},
    )
    assert chain is not None
    processor = chain.route("otlp", Signal.LOGS)[0]
    message, _ = apply(processor, logs(("x", None, 9), resource={"service.name": "app"}))
    assert kv(message.resource_logs[0].resource.attributes) == {
        "service.name": "app",
        "fleet.group": "north",
        "hw.revision": "Raspberry Pi 4 Model B Rev 1.4",
        "site": "plant-3",
    }


def test_missing_env_variable_or_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing variable or file stops the build with the key and what is missing."""
    with pytest.raises(
        ConfigError, match=r"processors\.enrich\.from_env\.fleet: environment variable FLEET is not set"
    ):
        build_chain((_resource_config(from_env={"fleet": "FLEET"}),), environ={}, agent_attributes={})
    with pytest.raises(ConfigError, match=r"from_file\.hw: file not found: .*/nope"):
        build_chain(
            (_resource_config(from_file={"hw": str(tmp_path / "nope")}),), environ={}, agent_attributes={}
        )
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    with pytest.raises(ConfigError, match="is empty"):
        read_value_file(empty, key="k")
