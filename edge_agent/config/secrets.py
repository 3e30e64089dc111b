"""Config fields that hold secrets, and the keys to hide wherever a config is shown.

A field is secret when its metadata says ``secret=True`` (``setting(...,
secret=True)`` for plugin authors). :func:`secret_keys` lists the dotted
keys of every secret field of a built config, plugin and processor settings
included; :func:`~edge_agent.config.render.render_config` prints them as
``"<redacted>"``, which is what ``check-config`` shows and what the fleet
client reports as the effective config. The builder never quotes a secret
field's value in an error either.

Prefer ``*_file`` fields (a path is not a secret; the file is checked and
read with :mod:`edge_agent.security.secrets`) over literal secret values.
Such fields carry ``secret_file=True``: :func:`check_secret_files` opens
every one that is set and checks its permissions when the agent starts, so
a world-readable key stops the start with a message naming the file and the
``chmod`` that fixes it, before anything is listening or sending.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from edge_agent.security.secrets import read_secret

REDACTED = "<redacted>"


def is_secret(fld: dataclasses.Field[Any]) -> bool:
    return bool(fld.metadata.get("secret", False))


def secret_keys(config: Any) -> frozenset[str]:
    """Dotted keys of every secret field set in ``config`` (an :class:`AgentConfig`)."""
    keys: set[str] = set()
    _walk(config, "", keys, skip=("plugins", "processors"))
    for section in ("plugins", "processors"):
        for inst in getattr(config, section, ()):
            if dataclasses.is_dataclass(inst.settings):
                _walk(inst.settings, f"{section}.{inst.name}", keys)
    return frozenset(keys)


def _walk(obj: Any, path: str, keys: set[str], skip: tuple[str, ...] = ()) -> None:
    for fld in dataclasses.fields(obj):
        if fld.name in skip:
            continue
        key = f"{path}.{fld.name}" if path else fld.name
        value = getattr(obj, fld.name)
        if is_secret(fld):
            keys.add(key)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _walk(value, key, keys)


def secret_files(config: Any) -> list[tuple[str, str]]:
    """``(key, path)`` of every non-empty ``secret_file`` field (string or table of strings) in ``config``."""
    found: list[tuple[str, str]] = []
    _walk_files(config, "", found, skip=("plugins", "processors"))
    for section in ("plugins", "processors"):
        for inst in getattr(config, section, ()):
            if getattr(inst, "enabled", True) and dataclasses.is_dataclass(inst.settings):
                _walk_files(inst.settings, f"{section}.{inst.name}", found)
    return found


def _walk_files(obj: Any, path: str, found: list[tuple[str, str]], skip: tuple[str, ...] = ()) -> None:
    for fld in dataclasses.fields(obj):
        if fld.name in skip:
            continue
        key = f"{path}.{fld.name}" if path else fld.name
        value = getattr(obj, fld.name)
        if fld.metadata.get("secret_file"):
            if isinstance(value, str) and value:
                found.append((key, value))
            elif isinstance(value, dict):
                found.extend((f"{key}.{k}", v) for k, v in value.items() if isinstance(v, str) and v)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _walk_files(value, key, found)


def check_secret_files(config: Any, environ: Mapping[str, str]) -> None:
    """Open and permission-check every secret file the config names (blocking; raises ConfigError)."""
    for key, value in secret_files(config):
        read_secret(value, key=key, what="secret file", environ=environ)
