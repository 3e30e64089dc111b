"""Frame codec of the disk buffer (sans-IO: bytes in, values out).

Theory of operation: a segment file is a 48-byte segment header followed by
frames. A frame is one group commit of one (signal, priority) stream::

    0   4  magic b"EAf1"            ("f1" = frame format version 1)
    4   1  flags                    bit 0: body is encrypted (AES-256-GCM)
    5   1  stream                   signal index << 4 | priority
    6   2  reserved (0)
    8   4  body length              little endian, like every integer here
    12  4  record count             copy of the envelope's, to count damaged frames
    16  4  CRC32 of the body
    20  4  CRC32 of bytes 0..20      the header check
    24  .. body: a CBOR envelope (see :class:`Envelope`), possibly encrypted

The header has its own checksum so a damaged body still has a trusted length
(skip exactly that frame, count its records) and a damaged header is found
by searching forward for the next magic whose header checksum holds
(resynchronisation). CRC32 (zlib, in C) rather than CRC32C because the
standard library has no CRC32C and a dependency for it is not worth it:
both catch the torn writes and flipped bits this is for.

Envelope values are validated on decode: a frame whose checksums hold but
whose envelope does not decode is reported as damage, never raised past the
scanner.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Protocol

import cbor2

from edge_agent.otlp.fragment import Priority, Signal

FRAME_MAGIC = b"EAf1"
FRAME_HEADER = struct.Struct("<4sBBHIIII")
FRAME_HEADER_SIZE = FRAME_HEADER.size  # 24
MAX_BODY = 256 * 1024 * 1024  # a larger length field is damage, whatever its checksum says
FLAG_ENCRYPTED = 0x01
ENVELOPE_VERSION = 1

SIGNAL_INDEX = {Signal.TRACES: 0, Signal.METRICS: 1, Signal.LOGS: 2}
SIGNAL_BY_INDEX = {v: k for k, v in SIGNAL_INDEX.items()}
CODECS = ("identity", "gzip", "zstd")


class Sealer(Protocol):
    """Encrypts and authenticates frame bodies (see :mod:`edge_agent.buffer.crypto`)."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, sealed: bytes, aad: bytes) -> bytes: ...


class EnvelopeError(ValueError):
    """A frame's checksums hold but its envelope is not one we wrote."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """What one frame stores: a compressed OTLP request of one signal and priority."""

    signal: Signal
    priority: Priority
    records: int
    first_ns: int
    last_ns: int
    codec: str
    raw_size: int
    payload: bytes

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise EnvelopeError(f"unknown codec {self.codec!r}")
        if min(self.records, self.first_ns, self.last_ns, self.raw_size) < 0:
            raise EnvelopeError("negative count or timestamp")


@dataclass(frozen=True, slots=True)
class FrameHeader:
    flags: int
    signal: Signal
    priority: Priority
    body_length: int
    records: int
    body_crc: int

    @property
    def frame_length(self) -> int:
        return FRAME_HEADER_SIZE + self.body_length


def encode_envelope(env: Envelope) -> bytes:
    return cbor2.dumps(
        {
            "v": ENVELOPE_VERSION,
            "s": SIGNAL_INDEX[env.signal],
            "p": int(env.priority),
            "n": env.records,
            "t0": env.first_ns,
            "t1": env.last_ns,
            "c": env.codec,
            "r": env.raw_size,
            "d": env.payload,
        }
    )


def envelope_head(
    signal: Signal,
    priority: Priority,
    records: int,
    first_ns: int,
    last_ns: int,
    codec: str,
    raw_size: int,
    payload_length: int,
) -> bytes:
    """The envelope up to its payload: ``envelope_head(...) + payload`` is byte for byte
    :func:`encode_envelope` of the same values.

    The committer writes head and payload side by side (``writev``) instead of
    copying a compressed frame into a CBOR encoder's output and that into a frame.
    """
    if codec not in CODECS or min(records, first_ns, last_ns, raw_size, payload_length) < 0:
        raise EnvelopeError("invalid envelope values")
    return b"".join(
        (
            _ENVELOPE_START,
            _cbor_head(0, SIGNAL_INDEX[signal]),
            b"\x61p",
            _cbor_head(0, int(priority)),
            b"\x61n",
            _cbor_head(0, records),
            b"\x62t0",
            _cbor_head(0, first_ns),
            b"\x62t1",
            _cbor_head(0, last_ns),
            b"\x61c",
            _cbor_head(3, len(codec)),
            codec.encode(),
            b"\x61r",
            _cbor_head(0, raw_size),
            b"\x61d",
            _cbor_head(2, payload_length),
        )
    )


# map of 9 pairs, "v": 1, "s":
_ENVELOPE_START = b"\xa9\x61v" + bytes([ENVELOPE_VERSION]) + b"\x61s"


def _cbor_head(major: int, value: int) -> bytes:
    """A CBOR item head in its shortest form (as cbor2 writes it)."""
    kind = major << 5
    if value < 24:
        return bytes((kind | value,))
    if value < 0x100:
        return bytes((kind | 24, value))
    if value < 0x10000:
        return bytes((kind | 25,)) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes((kind | 26,)) + value.to_bytes(4, "big")
    return bytes((kind | 27,)) + value.to_bytes(8, "big")


def decode_envelope(body: bytes) -> Envelope:
    """Decode an envelope; raise :class:`EnvelopeError` for anything we did not write."""
    try:
        data = cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError, EOFError, TypeError) as exc:
        raise EnvelopeError(f"envelope is not CBOR: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != ENVELOPE_VERSION:
        raise EnvelopeError("envelope is not a version 1 map")
    try:
        return Envelope(
            signal=SIGNAL_BY_INDEX[data["s"]],
            priority=Priority(data["p"]),
            records=_int(data["n"]),
            first_ns=_int(data["t0"]),
            last_ns=_int(data["t1"]),
            codec=str(data["c"]),
            raw_size=_int(data["r"]),
            payload=_bytes(data["d"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise EnvelopeError(f"envelope field missing or invalid: {exc}") from None


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return value


def encode_frame(env: Envelope, *, sealer: Sealer | None = None, aad: bytes = b"") -> bytes:
    """The complete frame (header + body) for ``env``."""
    return frame_from_body(encode_envelope(env), env.signal, env.priority, env.records, sealer, aad)


def frame_from_body(
    body: bytes, signal: Signal, priority: Priority, records: int, sealer: Sealer | None, aad: bytes
) -> bytes:
    """Frame an already encoded envelope, sealing it first when ``sealer`` is given."""
    flags = 0
    if sealer is not None:
        body = sealer.seal(body, aad)
        flags |= FLAG_ENCRYPTED
    return frame_head(len(body), zlib.crc32(body), signal, priority, records, flags) + body


def frame_head(
    body_length: int, body_crc: int, signal: Signal, priority: Priority, records: int, flags: int = 0
) -> bytes:
    """The 24-byte frame header for a body of ``body_length`` bytes whose CRC32 is ``body_crc``."""
    stream = SIGNAL_INDEX[signal] << 4 | int(priority)
    head = FRAME_HEADER.pack(FRAME_MAGIC, flags, stream, 0, body_length, records, body_crc, 0)
    return head[:20] + struct.pack("<I", zlib.crc32(head[:20]))


def parse_frame_header(data: bytes | bytearray | memoryview) -> FrameHeader | None:
    """The header at the start of ``data`` if its magic and checksum hold, else None."""
    if len(data) < FRAME_HEADER_SIZE:
        return None
    magic, flags, stream, _, length, records, body_crc, head_crc = FRAME_HEADER.unpack_from(data)
    if magic != FRAME_MAGIC or zlib.crc32(bytes(data[:20])) != head_crc:
        return None
    signal = SIGNAL_BY_INDEX.get(stream >> 4)
    priority = stream & 0x0F
    if signal is None or priority > max(Priority) or length > MAX_BODY:
        return None
    return FrameHeader(flags, signal, Priority(priority), length, records, body_crc)


def open_body(
    header: FrameHeader, body: bytes, *, sealer: Sealer | None = None, aad: bytes = b""
) -> Envelope:
    """Decrypt (if needed) and decode a checksum-verified body; :class:`EnvelopeError` if unusable."""
    if header.flags & FLAG_ENCRYPTED:
        if sealer is None:
            raise EnvelopeError("frame is encrypted and no key is configured")
        try:
            body = sealer.open(body, aad)
        except ValueError as exc:
            raise EnvelopeError(f"frame does not decrypt: {exc}") from None
    env = decode_envelope(body)
    if (env.signal, env.priority, env.records) != (header.signal, header.priority, header.records):
        raise EnvelopeError("envelope disagrees with its frame header")
    return env
