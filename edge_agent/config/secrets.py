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
"""

from __future__ import annotations

import dataclasses
from typing import Any

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
