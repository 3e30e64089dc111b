"""Encoding of OTLP ``AnyValue`` / ``KeyValue`` / ``Resource`` / ``InstrumentationScope``.

Attribute sets repeat on every collection cycle (``{"state": "user",
"cpu": "cpu0"}``), so encoded sets are memoized in a bounded cache keyed by
their items; a cache hit costs one dict lookup instead of a dozen varint
encodings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

from edge_agent.otlp import wire

AttributeValue = Union[  # noqa: UP007 - a recursive alias needs the Union form at runtime
    str, bool, int, float, bytes, Sequence["AttributeValue"], Mapping[str, "AttributeValue"]
]
Attributes = Mapping[str, AttributeValue]

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_CACHE_LIMIT = 4096


def any_value(value: AttributeValue) -> bytes:
    """Encode one ``AnyValue`` message body."""
    # bool before int: bool is a subclass of int
    if isinstance(value, str):
        return wire.len_field(1, value.encode("utf-8"))
    if isinstance(value, bool):
        return wire.tag(2, wire.WIRE_VARINT) + wire.varint(int(value))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer attribute {value} does not fit in int64")
        return wire.tag(3, wire.WIRE_VARINT) + wire.varint(value)
    if isinstance(value, float):
        return wire.double_field(4, value)
    if isinstance(value, bytes | bytearray):
        return wire.len_field(7, bytes(value))
    if isinstance(value, Mapping):
        return wire.len_field(6, b"".join(wire.len_field(1, key_value(k, v)) for k, v in value.items()))
    if isinstance(value, Sequence):
        return wire.len_field(5, b"".join(wire.len_field(1, any_value(v)) for v in value))
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def key_value(key: str, value: AttributeValue) -> bytes:
    """Encode one ``KeyValue`` message body."""
    return wire.len_field(1, key.encode("utf-8")) + wire.len_field(2, any_value(value))


_cache: dict[tuple[int, object], bytes] = {}
# Scrapers reuse the same attribute dict objects cycle after cycle; an identity
# hit skips even building the items tuple. The entry keeps the dict alive, so
# its id cannot be recycled while cached. Callers must not mutate such dicts.
_by_identity: dict[tuple[int, int], tuple[object, bytes]] = {}


def encode_attributes(field_number: int, attributes: Attributes | None) -> bytes:
    """Encode ``attributes`` as repeated ``KeyValue`` under ``field_number``.

    Results for hashable attribute sets are cached; lists/dicts as values
    bypass the cache.
    """
    if not attributes:
        return b""
    ident = (field_number, id(attributes))
    hit = _by_identity.get(ident)
    if hit is not None and hit[0] is attributes:
        return hit[1]
    encoded = _encode_cached(field_number, attributes)
    if len(_by_identity) >= _CACHE_LIMIT:
        _by_identity.clear()
    _by_identity[ident] = (attributes, encoded)
    return encoded


def _encode_cached(field_number: int, attributes: Attributes) -> bytes:
    try:
        cache_key: tuple[int, object] = (field_number, tuple(attributes.items()))
        cached = _cache.get(cache_key)
    except TypeError:  # unhashable value (list, dict)
        return _encode_uncached(field_number, attributes)
    if cached is not None:
        return cached
    encoded = _encode_uncached(field_number, attributes)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()  # attribute sets churn rarely; a full reset keeps memory bounded
    _cache[cache_key] = encoded
    return encoded


def _encode_uncached(field_number: int, attributes: Attributes) -> bytes:
    return b"".join(wire.len_field(field_number, key_value(k, v)) for k, v in attributes.items())


def resource(attributes: Attributes) -> bytes:
    """Encode a ``Resource`` message body."""
    return encode_attributes(1, attributes)


def scope(name: str, version: str = "") -> bytes:
    """Encode an ``InstrumentationScope`` message body."""
    return wire.str_field(1, name) + wire.str_field(2, version)
