"""Render an effective config as TOML, each value annotated with its origin.

The output of ``edge-agent check-config`` is itself a valid config file:
feeding it back produces the same configuration.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, get_type_hints

from edge_agent.config.build import Provenance, _strip_optional
from edge_agent.config.schema import PLUGIN_COMMON_KEYS, AgentConfig, PluginInstanceConfig
from edge_agent.config.secrets import secret_keys
from edge_agent.config.units import ByteSize, Duration, format_duration, format_size
from edge_agent.processors.config import PROCESSOR_COMMON_KEYS, ProcessorInstanceConfig

_COMMENT_COLUMN = 48


def toml_value(value: Any, hint: Any = None) -> str:
    hint = _strip_optional(hint) if hint is not None else None
    if hint is Duration and isinstance(value, int | float):
        return json.dumps(format_duration(float(value)))
    if hint is ByteSize and isinstance(value, int):
        return json.dumps(format_size(value))
    if isinstance(value, enum.Enum):
        return json.dumps(value.name.lower())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot render {value!r} as TOML")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _line(key: str, value: str, origin: str) -> str:
    text = f"{_key(key)} = {value}"
    return f"{text.ljust(_COMMENT_COLUMN)} # {origin}"


def render_config(
    config: AgentConfig, provenance: Provenance, *, redact: frozenset[str] = frozenset()
) -> str:
    """TOML text of ``config`` with ``# origin`` comments; keys in ``redact`` print as ``"<redacted>"``.

    Fields marked secret (:mod:`edge_agent.config.secrets`) are always redacted.
    """
    out: list[str] = []
    redact = redact | secret_keys(config)
    _render_dataclass(config, "", provenance, out, redact, skip=("plugins", "processors"))
    for inst in config.plugins:
        _render_plugin(inst, provenance, out, redact)
    for proc in config.processors:
        _render_processor(proc, provenance, out, redact)
    return "\n".join(out).strip() + "\n"


def _render_dataclass(
    obj: Any,
    path: str,
    provenance: Provenance,
    out: list[str],
    redact: frozenset[str],
    skip: tuple[str, ...] = (),
) -> None:
    hints = get_type_hints(type(obj))
    nested: list[tuple[str, Any]] = []
    for fld in dataclasses.fields(obj):
        if fld.name in skip:
            continue
        value = getattr(obj, fld.name)
        key = f"{path}.{fld.name}" if path else fld.name
        if dataclasses.is_dataclass(value):
            nested.append((key, value))
            continue
        _emit(out, fld.name, key, value, hints[fld.name], provenance, redact)
    for key, value in nested:
        out.append("")
        out.append(f"[{key}]")
        _render_dataclass(value, key, provenance, out, redact)


def _emit(
    out: list[str], name: str, key: str, value: Any, hint: Any, provenance: Provenance, redact: frozenset[str]
) -> None:
    if value is None:
        out.append(f"# {name} is unset".ljust(_COMMENT_COLUMN) + f" # {provenance.get(key, 'default')}")
        return
    if key in redact:
        # a redacted table keeps its keys, so the output stays a valid config file
        shown = toml_value(dict.fromkeys(value, "<redacted>")) if isinstance(value, dict) else '"<redacted>"'
    else:
        shown = toml_value(value, hint)
    out.append(_line(name, shown, provenance.get(key, "default")))


def _render_plugin(
    inst: PluginInstanceConfig, provenance: Provenance, out: list[str], redact: frozenset[str]
) -> None:
    path = f"plugins.{inst.name}"
    out.append("")
    out.append(f"[{path}]")
    hints = get_type_hints(PluginInstanceConfig)
    for key in PLUGIN_COMMON_KEYS:
        _emit(out, key, f"{path}.{key}", getattr(inst, key), hints[key], provenance, redact)
    if inst.settings is not None and dataclasses.is_dataclass(inst.settings):
        _render_dataclass(inst.settings, path, provenance, out, redact)


def _render_processor(
    inst: ProcessorInstanceConfig, provenance: Provenance, out: list[str], redact: frozenset[str]
) -> None:
    path = f"processors.{inst.name}"
    out.append("")
    out.append(f"[{path}]")
    hints = get_type_hints(ProcessorInstanceConfig)
    for key in PROCESSOR_COMMON_KEYS:
        _emit(out, key, f"{path}.{key}", getattr(inst, key), hints[key], provenance, redact)
    if dataclasses.is_dataclass(inst.settings):
        _render_dataclass(inst.settings, path, provenance, out, redact)
