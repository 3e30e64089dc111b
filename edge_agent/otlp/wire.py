"""Protobuf wire-format primitives, written for the agent's hot paths.

Building OTLP messages through the generated classes costs ~30 us per span
from Python, and importing the pb2 modules costs ~5 MiB of RSS. The agent
therefore writes OTLP bytes directly: a message is a sequence of
``tag + payload`` chunks, and a length-delimited field is
``tag + varint(len) + bytes``. Everything here is a pure function on bytes.

Decoding helpers are deliberately minimal (walk fields, read varints); full
validation of untrusted input uses the generated classes (see
:mod:`edge_agent.otlp.validate`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from edge_agent.errors import EdgeAgentError

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LEN = 2
WIRE_FIXED32 = 5

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_SFIXED64 = struct.Struct("<q")
_FIXED32 = struct.Struct("<I")

# Single-byte varints are by far the most common (tags, short lengths).
_SMALL_VARINTS = tuple(bytes((i,)) for i in range(128))


class WireError(EdgeAgentError):
    """Bytes are not valid protobuf wire format."""


def varint(value: int) -> bytes:
    """Encode a non-negative integer (or a negative int64, as 10 bytes) as a varint."""
    if 0 <= value < 128:
        return _SMALL_VARINTS[value]
    if 0 < value < 16384:  # lengths of most sub-messages: two bytes
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0:
        value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field_number: int, wire_type: int) -> bytes:
    return varint((field_number << 3) | wire_type)


# Tags of length-delimited fields 0..63, precomputed: len_field is the hottest call.
_LEN_TAGS = tuple(tag(n, WIRE_LEN) for n in range(64))


def len_field(field_number: int, payload: bytes) -> bytes:
    """A length-delimited field: sub-message, string or bytes."""
    n = len(payload)
    head = _LEN_TAGS[field_number] if field_number < 64 else tag(field_number, WIRE_LEN)
    return head + (_SMALL_VARINTS[n] if n < 128 else varint(n)) + payload


def str_field(field_number: int, text: str) -> bytes:
    """A string field; empty strings are omitted, as proto3 does."""
    if not text:
        return b""
    return len_field(field_number, text.encode("utf-8"))


def varint_field(field_number: int, value: int) -> bytes:
    """A varint field (int32/int64/uint/bool/enum); zero is omitted."""
    if not value:
        return b""
    return tag(field_number, WIRE_VARINT) + varint(value)


def fixed64_field(field_number: int, value: int) -> bytes:
    if not value:
        return b""
    return tag(field_number, WIRE_FIXED64) + _FIXED64.pack(value)


def sfixed64_field(field_number: int, value: int) -> bytes:
    return tag(field_number, WIRE_FIXED64) + _SFIXED64.pack(value)


def double_field(field_number: int, value: float) -> bytes:
    return tag(field_number, WIRE_FIXED64) + _DOUBLE.pack(value)


def fixed32_field(field_number: int, value: int) -> bytes:
    if not value:
        return b""
    return tag(field_number, WIRE_FIXED32) + _FIXED32.pack(value)


def packed_fixed64(field_number: int, values: list[int]) -> bytes:
    if not values:
        return b""
    return len_field(field_number, struct.pack(f"<{len(values)}Q", *values))


def packed_double(field_number: int, values: list[float]) -> bytes:
    if not values:
        return b""
    return len_field(field_number, struct.pack(f"<{len(values)}d", *values))


# --- decoding -------------------------------------------------------------


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Read a varint at ``pos``; return ``(value, new_pos)``."""
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)`` for each top-level field.

    ``value`` is an int for varint/fixed fields and the raw bytes for
    length-delimited ones. Groups (wire types 3/4) are rejected: OTLP never
    uses them.
    """
    view = memoryview(data)
    pos = 0
    end = len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        field_number, wire_type = key >> 3, key & 7
        if field_number == 0:
            raise WireError("field number 0")
        if wire_type == WIRE_VARINT:
            value, pos = read_varint(view, pos)
            yield field_number, wire_type, value
        elif wire_type == WIRE_FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield field_number, wire_type, _FIXED64.unpack_from(view, pos)[0]
            pos += 8
        elif wire_type == WIRE_FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield field_number, wire_type, _FIXED32.unpack_from(view, pos)[0]
            pos += 4
        elif wire_type == WIRE_LEN:
            length, pos = read_varint(view, pos)
            if pos + length > end:
                raise WireError("length-delimited field runs past the end")
            yield field_number, wire_type, bytes(view[pos : pos + length])
            pos += length
        else:
            raise WireError(f"unsupported wire type {wire_type}")
