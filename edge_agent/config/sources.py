"""Config layers as trees of values that remember where they came from.

Every layer (embedded defaults, device profile, main file, ``conf.d``
drop-ins, environment, CLI flags) becomes a :data:`Tree`: nested dicts whose
leaves are :class:`Leaf` values carrying an origin string such as
``/etc/edge-agent/agent.toml:12`` or ``env EDGE_AGENT__EXPORTER__ENDPOINT``.
Layers merge table by table; a leaf (scalars and arrays alike) from a higher
layer replaces the lower one whole. The merged tree is what the schema
builder consumes and what ``check-config`` prints.

``tomllib`` does not report line numbers, so :func:`_line_index` scans the
source for table headers and key assignments. It only has to be right for
well-formed files (``tomllib`` has already rejected the rest) and falls back
to the nearest enclosing table's line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from edge_agent.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


@dataclass(frozen=True, slots=True)
class Leaf:
    value: Any
    origin: str
    # values from env/CLI arrive as text and may be coerced to the field type
    from_text: bool = False


Tree = dict[str, Union["Tree", Leaf]]

ENV_PREFIX = "EDGE_AGENT__"


def load_toml_text(text: str, origin_name: str) -> Tree:
    """Parse TOML ``text``; leaves are annotated with ``origin_name:line``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", origin=origin_name) from None
    lines = _line_index(text)

    def origin_of(path: tuple[str, ...]) -> str:
        for end in range(len(path), 0, -1):
            line = lines.get(path[:end])
            if line is not None:
                return f"{origin_name}:{line}"
        return origin_name

    return _annotate(data, (), origin_of)


def load_toml_file(path: Path, label: str | None = None) -> Tree:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return load_toml_text(text, label or str(path))


def _annotate(data: Mapping[str, Any], prefix: tuple[str, ...], origin_of: Any) -> Tree:
    tree: Tree = {}
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and value:
            tree[key] = _annotate(value, path, origin_of)
        else:
            tree[key] = Leaf(value, origin_of(path))
    return tree


def merge(lower: Tree, upper: Tree) -> Tree:
    """Return ``lower`` overlaid with ``upper`` (neither is modified)."""
    merged: Tree = dict(lower)
    for key, value in upper.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = merge(below, value)
        elif is_empty_table(value) and isinstance(below, dict):
            continue  # an empty [table] adds nothing; it must not wipe a lower layer's table
        else:
            merged[key] = value
    return merged


def env_layer(environ: Mapping[str, str]) -> Tree:
    """Build a layer from ``EDGE_AGENT__SECTION__KEY=value`` variables.

    Names are lower-cased and split on ``__``; values stay text and are
    coerced to each field's type by the schema builder.
    """
    tree: Tree = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigError(f"malformed variable name {name!r}: empty key part", origin=f"env {name}")
        _set_path(tree, parts, Leaf(environ[name], f"env {name}", from_text=True))
    return tree


def cli_layer(assignments: list[str]) -> Tree:
    """Build a layer from ``--set key.path=value`` flags."""
    tree: Tree = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set expects key.path=value, got {item!r}", origin="command line")
        _set_path(tree, parts, Leaf(value, f"--set {key.strip()}", from_text=True))
    return tree


def _set_path(tree: Tree, parts: list[str], leaf: Leaf) -> None:
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if isinstance(child, Leaf):
            raise ConfigError(f"{'.'.join(parts)} conflicts with a value set at {part}", origin=leaf.origin)
        node = child
    node[parts[-1]] = leaf


def is_empty_table(node: Tree | Leaf) -> bool:
    """Empty TOML tables are kept as leaves so they keep their file:line origin."""
    return isinstance(node, Leaf) and isinstance(node.value, dict) and not node.value


def get_leaf(tree: Tree, dotted: str) -> Leaf | None:
    node: Tree | Leaf = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Leaf) else None


def plain(tree: Tree) -> dict[str, Any]:
    """Strip origins: the tree as plain TOML-like data."""
    return {k: plain(v) if isinstance(v, dict) else v.value for k, v in tree.items()}


# --- line numbers ---------------------------------------------------------

_HEADER = re.compile(r"^\s*\[(\[)?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_KEY_PART = re.compile(r"""\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*(?:\.|$)""")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(m.group(1).strip("\"'") for m in _KEY_PART.finditer(text))


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    index: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    array_counts: dict[tuple[str, ...], int] = {}
    in_multiline: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _HEADER.match(line)
        if header:
            path = _split_key(header.group(2))
            if header.group(1):  # [[array.of.tables]]
                n = array_counts.get(path, 0)
                array_counts[path] = n + 1
                path = (*path, str(n))
            table = path
            index.setdefault(table, lineno)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            index.setdefault((*table, *_split_key(assign.group(1))), lineno)
            rest = line[assign.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return index
