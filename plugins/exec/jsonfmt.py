"""Sans-IO parser for the exec plugin's JSON output format.

Schema (documented in docs/plugins.md)::

    {"metrics": [
        {"name": "queue.depth", "value": 12, "type": "gauge",
         "unit": "{item}", "description": "...", "attributes": {"queue": "high"}},
        ...
    ]}

``name`` and ``value`` (a number) are required. ``type`` is ``gauge``
(default), ``counter`` (cumulative monotonic sum) or ``updowncounter``
(cumulative non-monotonic sum). ``attributes`` values are strings, numbers
or booleans. A top-level list of metric objects is accepted too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

TYPES = ("gauge", "counter", "updowncounter")


class JsonFormatError(ValueError):
    """Output that does not follow the schema (the message names the item and field)."""


@dataclass(frozen=True)
class JsonMetric:
    name: str
    value: int | float
    type: str = "gauge"
    unit: str = ""
    description: str = ""
    attributes: dict[str, str | int | float | bool] | None = None


def parse(text: str) -> list[JsonMetric]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise JsonFormatError(f"output is not valid JSON: {exc}") from None
    items = document.get("metrics") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise JsonFormatError('expected {"metrics": [...]} or a list of metric objects')
    return [_metric(index, item) for index, item in enumerate(items)]


def _metric(index: int, item: Any) -> JsonMetric:
    where = f"metrics[{index}]"
    if not isinstance(item, dict):
        raise JsonFormatError(f"{where}: expected an object")
    name, value, kind = item.get("name"), item.get("value"), item.get("type", "gauge")
    if not isinstance(name, str) or not name:
        raise JsonFormatError(f"{where}.name: expected a non-empty string")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JsonFormatError(f"{where}.value: expected a finite number, got {value!r}")
    if kind not in TYPES:
        raise JsonFormatError(f"{where}.type: expected one of {', '.join(TYPES)}, got {kind!r}")
    attributes = item.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(v, str | int | float | bool) and not isinstance(v, dict | list)
        for v in attributes.values()
    ):
        raise JsonFormatError(f"{where}.attributes: expected an object of strings, numbers or booleans")
    return JsonMetric(
        name,
        value,
        kind,
        str(item.get("unit", "")),
        str(item.get("description", "")),
        {str(k): v for k, v in attributes.items()} or None,
    )
