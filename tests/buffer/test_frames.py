"""Frame codec: envelopes and headers encode and decode exactly, and reject what we did not write."""

from __future__ import annotations

import zlib

import cbor2
import pytest
from hypothesis import given

from edge_agent.buffer.frames import (
    FLAG_ENCRYPTED,
    FRAME_HEADER_SIZE,
    Envelope,
    EnvelopeError,
    decode_envelope,
    encode_envelope,
    encode_frame,
    envelope_head,
    frame_head,
    open_body,
    parse_frame_header,
)
from edge_agent.otlp.fragment import Priority, Signal
from tests.buffer.strategies import envelopes

ENV = Envelope(Signal.LOGS, Priority.BULK, 7, 10, 20, "gzip", 100, b"payload")


@given(envelopes)
def test_envelope_round_trips(env: Envelope) -> None:
    """Any envelope decodes back to an equal value."""
    assert decode_envelope(encode_envelope(env)) == env


@given(envelopes)
def test_frame_header_describes_the_envelope(env: Envelope) -> None:
    """The frame header carries signal, priority, record count and the body length and checksum."""
    frame = encode_frame(env)
    header = parse_frame_header(frame)
    assert header is not None
    assert (header.signal, header.priority, header.records) == (env.signal, env.priority, env.records)
    assert header.frame_length == len(frame)
    body = frame[FRAME_HEADER_SIZE:]
    assert header.body_crc == zlib.crc32(body)
    assert open_body(header, body) == env


@pytest.mark.parametrize("position", range(FRAME_HEADER_SIZE))
def test_any_flipped_header_byte_is_rejected(position: int) -> None:
    """A single flipped bit anywhere in the header makes it unusable."""
    frame = bytearray(encode_frame(ENV))
    frame[position] ^= 0x10
    assert parse_frame_header(bytes(frame)) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\x00", "not CBOR"),
        (cbor2.dumps([1, 2]), "version 1 map"),
        (cbor2.dumps({"v": 2}), "version 1 map"),
        (cbor2.dumps({"v": 1, "s": 9}), "missing or invalid"),
        (
            cbor2.dumps({"v": 1, "s": 0, "p": 0, "n": "x", "t0": 0, "t1": 0, "c": "gzip", "r": 0, "d": b""}),
            "invalid",
        ),
        (
            cbor2.dumps({"v": 1, "s": 0, "p": 0, "n": 1, "t0": 0, "t1": 0, "c": "lz4", "r": 0, "d": b""}),
            "codec",
        ),
        (
            cbor2.dumps({"v": 1, "s": 0, "p": 0, "n": -1, "t0": 0, "t1": 0, "c": "gzip", "r": 0, "d": b""}),
            "negative",
        ),
    ],
)
def test_foreign_envelopes_are_rejected_with_a_reason(body: bytes, message: str) -> None:
    """Bodies that pass their checksum but are not our envelopes raise EnvelopeError, nothing else."""
    with pytest.raises(EnvelopeError, match=message):
        decode_envelope(body)


def test_header_and_envelope_must_agree() -> None:
    """A body that belongs to another frame header (same checksum scheme) is refused."""
    frame = encode_frame(ENV)
    other = encode_frame(Envelope(Signal.TRACES, Priority.BULK, 7, 10, 20, "gzip", 100, b"payload"))
    header = parse_frame_header(other)
    assert header is not None
    with pytest.raises(EnvelopeError, match="disagrees"):
        open_body(header, frame[FRAME_HEADER_SIZE:])


class _XorSealer:
    """A stand-in cipher for the frame layer (real AES-GCM is tested in test_crypto.py)."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return aad + bytes(b ^ 0x5A for b in plaintext)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if not sealed.startswith(aad):
            raise ValueError("wrong aad")
        return bytes(b ^ 0x5A for b in sealed[len(aad) :])


def test_sealed_frames_need_the_sealer_and_their_aad() -> None:
    """Encrypted frames are flagged, open only with a sealer and the aad they were sealed with."""
    frame = encode_frame(ENV, sealer=_XorSealer(), aad=b"seg-1")
    header = parse_frame_header(frame)
    assert header is not None and header.flags & FLAG_ENCRYPTED
    body = frame[FRAME_HEADER_SIZE:]
    assert open_body(header, body, sealer=_XorSealer(), aad=b"seg-1") == ENV
    with pytest.raises(EnvelopeError, match="no key"):
        open_body(header, body)
    with pytest.raises(EnvelopeError, match="decrypt"):
        open_body(header, body, sealer=_XorSealer(), aad=b"seg-2")


@given(envelopes)
def test_envelope_head_plus_payload_is_the_encoded_envelope(env: Envelope) -> None:
    """The committer writes head and payload side by side: together they are exactly the CBOR envelope."""
    head = envelope_head(
        env.signal,
        env.priority,
        env.records,
        env.first_ns,
        env.last_ns,
        env.codec,
        env.raw_size,
        len(env.payload),
    )
    assert head + env.payload == encode_envelope(env)
    body = head + env.payload
    assert frame_head(
        len(body), zlib.crc32(body), env.signal, env.priority, env.records
    ) + body == encode_frame(env)
