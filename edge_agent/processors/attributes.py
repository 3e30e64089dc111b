"""The ``attributes`` and ``resource`` processors: delete, rename, set and add attributes.

``attributes`` edits the attributes of every record (spans, log records,
metric data points); ``resource`` edits the resource of every request, which
is how telemetry received from applications gets the device's site, fleet
group or hardware revision. Both apply their actions in a fixed order:

1. ``delete`` -- remove keys matching any glob,
2. ``rename`` -- ``old = "new"``; an existing ``new`` is replaced,
3. ``set`` -- upsert: the value is written whether or not the key exists,
4. ``add`` -- insert: written only where the key is absent.

Values are strings, integers, floats or booleans, written as the matching
OTLP ``AnyValue`` kind. The ``resource`` processor's ``from_env``,
``from_file`` and ``agent_attributes`` are resolved once at start (see
:mod:`edge_agent.processors.factory`) into ``set`` and ``add``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from edge_agent.otlp.fragment import Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.records import iter_records, remove_where, resource_groups

Scalar = str | int | float | bool


def set_any_value(target: Any, value: Scalar) -> None:
    """Write a scalar into an ``AnyValue`` message (bool before int: bool is an int)."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    else:
        target.string_value = value


class AttributeEditor:
    """The four actions on one repeated ``KeyValue`` (sans-IO, stateless)."""

    def __init__(
        self,
        *,
        delete: tuple[str, ...] = (),
        rename: Mapping[str, str] | None = None,
        set: Mapping[str, Scalar] | None = None,
        add: Mapping[str, Scalar] | None = None,
    ) -> None:
        self._delete = re.compile("|".join(fnmatch.translate(g) for g in delete)) if delete else None
        self._rename = dict(rename or {})
        self._set = dict(set or {})
        self._add = dict(add or {})

    def is_noop(self) -> bool:
        return not (self._delete or self._rename or self._set or self._add)

    def edit(self, attributes: Any) -> bool:
        """Apply the actions; True when anything changed."""
        changed = False
        if self._delete is not None:
            pattern = self._delete
            changed = remove_where(attributes, lambda kv: pattern.fullmatch(kv.key) is not None) > 0
        if self._rename:
            changed = self._apply_renames(attributes) or changed
        if self._set or self._add:
            index = {kv.key: kv for kv in attributes}
            for key, value in self._set.items():
                kv = index.get(key)
                if kv is None:
                    kv = index[key] = attributes.add(key=key)
                set_any_value(kv.value, value)
                changed = True
            for key, value in self._add.items():
                if key not in index:
                    index[key] = kv = attributes.add(key=key)
                    set_any_value(kv.value, value)
                    changed = True
        return changed

    def _apply_renames(self, attributes: Any) -> bool:
        present = {kv.key for kv in attributes}
        moves = {old: new for old, new in self._rename.items() if old in present and old != new}
        if not moves:
            return False
        targets = set(moves.values())
        # an attribute already holding a target name gives way to the renamed one
        remove_where(attributes, lambda kv: kv.key in targets and kv.key not in moves)
        for kv in attributes:
            new = moves.get(kv.key)
            if new is not None:
                kv.key = new
        return True


class AttributesProcessor:
    """Edits the attributes of every record."""

    def __init__(self, name: str, editor: AttributeEditor, signals: frozenset[Signal]) -> None:
        self.name = name
        self._editor = editor
        self._signals = signals

    def supports(self, signal: Signal) -> bool:
        return signal in self._signals

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        edit = self._editor.edit
        changed = False
        for _group, _owner, record in iter_records(signal, message):
            changed = edit(record.attributes) or changed
        tally.changed = tally.changed or changed


class ResourceProcessor:
    """Edits the resource attributes of every request."""

    def __init__(self, name: str, editor: AttributeEditor, signals: frozenset[Signal]) -> None:
        self.name = name
        self._editor = editor
        self._signals = signals

    def supports(self, signal: Signal) -> bool:
        return signal in self._signals

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        changed = False
        for group in resource_groups(signal, message):
            changed = self._editor.edit(group.resource.attributes) or changed
        tally.changed = tally.changed or changed
