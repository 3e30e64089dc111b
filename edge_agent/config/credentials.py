"""``credential:NAME`` config values: secrets delivered by systemd's ``LoadCredential=``.

A config value (typically a key, certificate or password file path) written
as ``"credential:client.key"`` resolves at load time to
``$CREDENTIALS_DIRECTORY/client.key``: the copy systemd places there from
``LoadCredential=client.key:/etc/edge-agent/credentials/client.key``. The
source file can stay root-only (0600) while the unprivileged service user
reads its copy, which lives in memory and is gone when the service stops.

Resolution happens on the merged config tree, so any string value (in a
list too) and any layer (file, ``conf.d``, environment, ``--set``) may use
it. Errors name the key, the file and line, and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.config.sources import Leaf, Tree
from edge_agent.errors import ConfigError

PREFIX = "credential:"
# what systemd accepts as a credential name: no "/", not "." or ".."
_NAME = re.compile(r"^(?!\.\.?$)[^/\x00]{1,255}$")


def resolve_credentials(tree: Tree, environ: Mapping[str, str]) -> Tree:
    """Return ``tree`` with every ``credential:NAME`` string replaced by the credential's path."""
    directory = environ.get("CREDENTIALS_DIRECTORY", "")
    return _resolve_tree(tree, Path(directory) if directory else None, "")


def _resolve_tree(tree: Tree, directory: Path | None, prefix: str) -> Tree:
    out: Tree = {}
    for key, node in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(node, Leaf):
            value = _resolve_value(node.value, directory, path, node.origin)
            out[key] = node if value is node.value else Leaf(value, node.origin, node.from_text)
        else:
            out[key] = _resolve_tree(node, directory, path)
    return out


def _resolve_value(value: Any, directory: Path | None, key: str, origin: str) -> Any:
    if isinstance(value, str) and value.startswith(PREFIX):
        return str(_credential_path(value[len(PREFIX) :], directory, key, origin))
    if isinstance(value, list):
        resolved = [_resolve_value(item, directory, key, origin) for item in value]
        return resolved if any(a is not b for a, b in zip(resolved, value, strict=True)) else value
    return value


def _credential_path(name: str, directory: Path | None, key: str, origin: str) -> Path:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid credential name {name!r}: use the ID of a LoadCredential= line, "
            "e.g. credential:client.key",
            key=key,
            origin=origin,
        )
    if directory is None:
        raise ConfigError(
            f"credential {name!r} needs $CREDENTIALS_DIRECTORY, which is only set when systemd starts the "
            f"agent: add LoadCredential={name}:/etc/edge-agent/credentials/{name} to the unit "
            "(edge-agent install-service does it for files in /etc/edge-agent/credentials/), "
            "or use a plain file path",
            key=key,
            origin=origin,
        )
    path = directory / name
    if not path.is_file():
        raise ConfigError(
            f"credential {name!r} not found in $CREDENTIALS_DIRECTORY ({directory}): the unit has no "
            f"LoadCredential={name}:... line (put the file in /etc/edge-agent/credentials/ and rerun "
            "edge-agent install-service)",
            key=key,
            origin=origin,
        )
    return path
