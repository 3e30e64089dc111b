"""OpAMP value helpers: UUIDv7 layout, the header form of the instance UID, attributes."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.fleet import messages as m


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_uuid7_layout(ms: int, rand: bytes) -> None:
    """16 bytes: 48-bit milliseconds, version 7, RFC 4122 variant."""
    uid = m.uuid7(ms, rand)
    parsed = uuid.UUID(bytes=uid)
    assert len(uid) == 16 and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int.from_bytes(uid[:6], "big") == ms


def test_uuid7_orders_by_time() -> None:
    """Later UUIDv7s sort after earlier ones (what makes them good database keys)."""
    assert m.uuid7(1000) < m.uuid7(1001)


def test_header_form_is_canonical_hyphenated() -> None:
    """The OpAMP-Instance-UID header carries the lower-case hyphenated UUID (as opamp-go sends it)."""
    assert m.uid_text(bytes(range(16))) == "00010203-0405-0607-0809-0a0b0c0d0e0f"


def test_key_values_round_trip() -> None:
    """Plain attributes encode to KeyValues and back, typed."""
    kvs = m.key_values({"b": 2, "a": "x", "c": True})
    assert [kv.key for kv in kvs] == ["a", "b", "c"]
    assert m.attributes_of(kvs) == {"a": "x", "b": 2, "c": True}
