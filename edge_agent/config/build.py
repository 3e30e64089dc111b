"""Build frozen config dataclasses from a merged :data:`~edge_agent.config.sources.Tree`.

The builder walks a dataclass's fields, converts each leaf to the field's
declared type, and raises :class:`~edge_agent.errors.ConfigError` naming the
full key path and the value's origin on the first problem. Unknown keys are
errors with a did-you-mean suggestion: a typo in a config file must never be
silently ignored on a device nobody can reach.

Supported field types: ``str``, ``int``, ``float``, ``bool``,
:data:`~edge_agent.config.units.Duration`, :data:`~edge_agent.config.units.ByteSize`,
``Literal[...]``, enums, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` and
nested dataclasses. Field metadata may carry ``help`` (documentation shown by
``check-config`` and ``plugins``) and ``check`` (a callable raising
``ValueError`` for a bad value).
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from edge_agent.config.sources import Leaf, Tree, is_empty_table
from edge_agent.config.units import ByteSize, Duration, parse_duration, parse_size
from edge_agent.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


class Provenance(dict[str, str]):
    """Maps each dotted key the builder consumed to its origin (``default`` if unset)."""


def build(cls: type[T], tree: Tree, *, path: str = "", provenance: Provenance | None = None) -> T:
    """Build ``cls`` (a dataclass) from ``tree``; see the module docstring."""
    if provenance is None:
        provenance = Provenance()
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    check_unknown_keys(tree, fields, path)
    kwargs: dict[str, Any] = {}
    for name, fld in fields.items():
        if not fld.init:
            continue
        key = f"{path}.{name}" if path else name
        node = tree.get(name)
        if node is None:
            if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                help_text = fld.metadata.get("help", "")
                hint = f" ({help_text})" if help_text else ""
                raise ConfigError(f"required key is missing{hint}", key=key, origin=_first_origin(tree))
            _record_defaults(fld, hints[name], key, provenance)
            continue
        if fld.metadata.get("secret"):
            kwargs[name] = _convert_secret(hints[name], node, key, provenance, fld.metadata.get("check"))
        else:
            kwargs[name] = convert(hints[name], node, key, provenance, fld.metadata.get("check"))
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(str(exc), key=path or "(top level)", origin=_first_origin(tree)) from None


def _convert_secret(
    hint: Any, node: Tree | Leaf, key: str, provenance: Provenance, check: Callable[[Any], object] | None
) -> Any:
    """:func:`convert` for a secret field: an error says what was expected, never what was given."""
    try:
        return convert(hint, node, key, provenance, check)
    except ConfigError as exc:
        raise ConfigError(
            f"invalid value for a secret setting, expected {describe(hint)} (the value is not shown)",
            key=key,
            origin=exc.origin,
        ) from None


def close_matches(word: str, choices: typing.Iterable[str]) -> list[str]:
    """The closest choice to ``word`` (for did-you-mean hints); difflib is loaded only on errors."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=1)


def check_unknown_keys(tree: Tree, known: typing.Iterable[str], path: str) -> None:
    known = list(known)
    for key, node in tree.items():
        if key not in known:
            full = f"{path}.{key}" if path else key
            hint = close_matches(key, known)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            valid = f" (valid keys: {', '.join(sorted(known))})" if not hint and known else ""
            raise ConfigError(f"unknown key{suggestion}{valid}", key=full, origin=_first_origin({key: node}))


def _record_defaults(fld: dataclasses.Field[Any], hint: Any, key: str, provenance: Provenance) -> None:
    if dataclasses.is_dataclass(hint):
        for sub in dataclasses.fields(hint):
            sub_hint = get_type_hints(hint)[sub.name]
            _record_defaults(sub, sub_hint, f"{key}.{sub.name}", provenance)
    else:
        provenance.setdefault(key, "default")


def _first_origin(tree: Tree) -> str:
    for node in tree.values():
        if isinstance(node, Leaf):
            return node.origin
        found = _first_origin(node)
        if found:
            return found
    return ""


def convert(
    hint: Any,
    node: Tree | Leaf,
    key: str,
    provenance: Provenance,
    check: Callable[[Any], object] | None = None,
) -> Any:
    """Convert one tree node to ``hint``; errors name ``key`` and the origin."""
    empty = node
    if is_empty_table(node):
        node = {}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(node, dict):
            raise ConfigError("expected a table", key=key, origin=node.origin)
        return build(hint, node, path=key, provenance=provenance)
    if isinstance(node, dict):
        if _is_dict_type(hint):
            table = _convert_dict(hint, node, key, provenance)
            origin = _first_origin(node) or (empty.origin if isinstance(empty, Leaf) else "")
            if origin:
                provenance[key] = origin
            _run_check(check, table, key, origin)
            return table
        raise ConfigError(f"expected {describe(hint)}, got a table", key=key, origin=_first_origin(node))
    provenance[key] = node.origin
    try:
        value = _convert_value(hint, node.value, node.from_text)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc), key=key, origin=node.origin) from None
    _run_check(check, value, key, node.origin)
    return value


def _run_check(check: Callable[[Any], object] | None, value: Any, key: str, origin: str) -> None:
    if check is None:
        return
    try:
        check(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc), key=key, origin=origin) from None


def _is_dict_type(hint: Any) -> bool:
    inner = _strip_optional(hint)
    return get_origin(hint) is dict or (inner is not hint and _is_dict_type(inner))


def _convert_dict(hint: Any, node: Tree, key: str, provenance: Provenance) -> dict[str, Any]:
    hint = _strip_optional(hint)
    _, value_hint = get_args(hint)
    return {k: convert(value_hint, v, f"{key}.{k}", provenance) for k, v in node.items()}


def _strip_optional(hint: Any) -> Any:
    if _is_union(hint):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _convert_value(hint: Any, value: Any, from_text: bool) -> Any:
    if _is_union(hint):
        args = get_args(hint)
        if type(None) in args and (value is None or (from_text and value in ("", "none", "null"))):
            return None
        return _convert_value(_strip_optional(hint), value, from_text)
    if hint is Duration:
        return parse_duration(value)
    if hint is ByteSize:
        return parse_size(value)
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _convert_enum(hint, value)
    if get_origin(hint) is tuple:
        return _convert_tuple(hint, value, from_text)
    if get_origin(hint) is dict:
        raise ValueError(f"expected a table, got {value!r}")
    return _convert_scalar(hint, value, from_text)


def _convert_enum(hint: type[enum.Enum], value: Any) -> enum.Enum:
    if isinstance(value, str):
        for member in hint:
            if member.name.lower() == value.lower() or member.value == value:
                return member
    names = ", ".join(m.name.lower() for m in hint)
    raise ValueError(f"must be one of {names}, got {value!r}")


def _convert_tuple(hint: Any, value: Any, from_text: bool) -> tuple[Any, ...]:
    item_hint = get_args(hint)[0]
    if from_text and isinstance(value, str):
        value = _parse_text_list(value)
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {value!r}")
    return tuple(_convert_value(item_hint, item, from_text) for item in value)


def _parse_text_list(text: str) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        try:
            return list(tomllib.loads(f"v = {text}")["v"])
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"invalid list {text!r}: {exc}") from None
    return [part.strip() for part in text.split(",") if part.strip()]


def _convert_scalar(hint: Any, value: Any, from_text: bool) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in _BOOL_TEXT:
            return _BOOL_TEXT[value.lower()]
        raise ValueError(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"expected a string, got {value!r}")
    if hint is Any or hint is object:
        return value
    raise TypeError(f"unsupported config field type {hint!r}")


_BOOL_TEXT = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}


def describe(hint: Any) -> str:
    """A short human description of a field type, for errors and docs."""
    hint = _strip_optional(hint)
    if hint is Duration:
        return "a duration ('10s')"
    if hint is ByteSize:
        return "a size ('64MiB')"
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(hint))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(m.name.lower() for m in hint)
    if get_origin(hint) is tuple:
        return "a list"
    if get_origin(hint) is dict or dataclasses.is_dataclass(hint):
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))
