"""From frames read back from disk to :class:`~edge_agent.buffer.api.Batch` objects (sans-IO).

A batch made of one frame whose codec is the exporter's wire encoding is
sent as stored (compress once). Anything else is decompressed,
concatenated and compressed once in the wire encoding: never several gzip
members in one body (see DESIGN.md). Frames whose checksums hold but whose
envelope or payload does not decode become :class:`Damage`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.buffer import codecs
from edge_agent.buffer.api import Batch, Encoding
from edge_agent.buffer.frames import Envelope, EnvelopeError, Sealer, open_body
from edge_agent.buffer.scan import Damage, ScannedFrame, scan_bytes
from edge_agent.buffer.segments import FrameRef, StreamKey


@dataclass(frozen=True)
class BatchToken:
    """What the buffer needs back to settle a batch."""

    stream: StreamKey
    refs: tuple[FrameRef, ...]


def decode_scanned(
    seq: int, events: list[ScannedFrame | Damage], sealer: Sealer | None, aad: bytes
) -> tuple[list[FrameRef | Damage], dict[int, Envelope]]:
    """Turn scan events into references (and envelopes by offset), damage for undecodable frames."""
    items: list[FrameRef | Damage] = []
    envelopes: dict[int, Envelope] = {}
    for event in events:
        if isinstance(event, Damage):
            items.append(event)
            continue
        outcome = _open(event, sealer, aad)
        if isinstance(outcome, Damage):
            items.append(outcome)
            continue
        length = event.header.frame_length
        ref = FrameRef(
            seq, event.offset, length, outcome.records, outcome.raw_size, outcome.first_ns, outcome.last_ns
        )
        items.append(ref)
        envelopes[event.offset] = outcome
    return items, envelopes


def decode_frame(ref: FrameRef, data: bytes, sealer: Sealer | None, aad: bytes) -> Envelope | Damage:
    """Check and decode one frame read back at a known location."""
    events = scan_bytes(data, ref.offset)
    first = events[0] if events else None
    if not isinstance(first, ScannedFrame) or first.header.frame_length != ref.length:
        return Damage(ref.offset, ref.length, "checksum", None, ref.records)
    return _open(first, sealer, aad)


def _open(frame: ScannedFrame, sealer: Sealer | None, aad: bytes) -> Envelope | Damage:
    try:
        envelope = open_body(frame.header, frame.body, sealer=sealer, aad=aad)
    except EnvelopeError:
        h = frame.header
        return Damage(frame.offset, h.frame_length, "envelope", h.signal, h.records)
    return envelope


def assemble(
    stream: StreamKey, refs: list[FrameRef], envelopes: list[Envelope], wire: Encoding, level: int | None
) -> tuple[Batch | None, list[FrameRef]]:
    """One request body from ``envelopes`` (in order), and the frames whose payload did not decode."""
    if len(envelopes) == 1 and envelopes[0].codec == wire:
        return _batch(stream, refs, envelopes, envelopes[0].payload, wire), []
    raws: list[bytes] = []
    good_refs: list[FrameRef] = []
    good: list[Envelope] = []
    bad: list[FrameRef] = []
    for ref, env in zip(refs, envelopes, strict=True):
        try:
            raws.append(codecs.decompress(env.codec, env.payload, env.raw_size))
        except codecs.CodecError:
            bad.append(ref)
            continue
        good_refs.append(ref)
        good.append(env)
    if not good:
        return None, bad
    return _batch(stream, good_refs, good, codecs.compress(wire, b"".join(raws), level), wire), bad


def _batch(
    stream: StreamKey, refs: list[FrameRef], envelopes: list[Envelope], body: bytes, wire: Encoding
) -> Batch:
    firsts = [e.first_ns for e in envelopes if e.first_ns]
    return Batch(
        signal=stream[0],
        body=body,
        encoding=wire,
        records=sum(e.records for e in envelopes),
        raw_size=sum(e.raw_size for e in envelopes),
        priority=stream[1],
        first_ns=min(firsts, default=0),
        last_ns=max((e.last_ns for e in envelopes), default=0),
        token=BatchToken(stream, tuple(refs)),
    )
