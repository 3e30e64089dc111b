"""Frame scanner: intact frames round-trip in any chunking; damage is detected and isolated."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.buffer.frames import FRAME_HEADER_SIZE, Envelope, decode_envelope, encode_frame
from edge_agent.buffer.scan import NEED_DATA, Damage, FrameScanner, ScannedFrame, scan_bytes
from edge_agent.otlp.fragment import Priority, Signal
from tests.buffer.strategies import envelope_lists


def _frames(envs: list[Envelope]) -> tuple[bytes, list[int]]:
    encoded = [encode_frame(e) for e in envs]
    offsets = []
    pos = 0
    for frame in encoded:
        offsets.append(pos)
        pos += len(frame)
    return b"".join(encoded), offsets


def _decoded(events: list[ScannedFrame | Damage]) -> list[Envelope]:
    return [decode_envelope(e.body) for e in events if isinstance(e, ScannedFrame)]


@given(envelope_lists, st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=50))
def test_any_sequence_round_trips_in_any_chunking(envs: list[Envelope], chunks: list[int]) -> None:
    """Frames fed in arbitrary pieces come back exactly, in order, with no damage reported."""
    data, offsets = _frames(envs)
    scanner = FrameScanner()
    events: list[ScannedFrame | Damage] = []
    pos = 0
    sizes = iter(chunks * (len(data) // len(chunks) + 1) if chunks else [len(data)])
    while pos < len(data):
        size = next(sizes)
        scanner.feed(data[pos : pos + size])
        pos += size
        while (event := scanner.next_event()) is not NEED_DATA:
            assert isinstance(event, ScannedFrame | Damage)
            events.append(event)
    assert scanner.finish() is None
    assert all(isinstance(e, ScannedFrame) for e in events)
    assert _decoded(events) == envs
    assert [e.offset for e in events] == offsets


@given(envelope_lists, st.data())
def test_truncation_keeps_every_whole_frame_and_reports_the_torn_tail(
    envs: list[Envelope], data: st.DataObject
) -> None:
    """Cut anywhere: every frame that ended before the cut is recovered, the rest is one torn tail."""
    raw, offsets = _frames(envs)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    events = scan_bytes(raw[:cut])
    whole = [i for i, off in enumerate(offsets) if off + len(encode_frame(envs[i])) <= cut]
    assert _decoded(events) == [envs[i] for i in whole]
    damages = [e for e in events if isinstance(e, Damage)]
    boundary = cut in offsets or cut == len(raw)
    if boundary:
        assert damages == []
    else:
        assert len(damages) == 1 and damages[0].reason == "torn" and damages[0].end == cut
        torn = len(whole)
        assert damages[0].offset == offsets[torn]
        if cut - offsets[torn] >= FRAME_HEADER_SIZE:
            assert damages[0].records == envs[torn].records  # the header survived: records are known


@given(envelope_lists, st.data())
@settings(max_examples=300)
def test_a_flipped_byte_damages_only_its_own_frame(envs: list[Envelope], data: st.DataObject) -> None:
    """Flip any byte: the frame holding it is reported damaged, every other frame is recovered."""
    raw, offsets = _frames(envs)
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    damaged = bytearray(raw)
    damaged[pos] ^= 1 << bit
    events = scan_bytes(bytes(damaged))
    hit = max(i for i, off in enumerate(offsets) if off <= pos)
    assert _decoded(events) == [e for i, e in enumerate(envs) if i != hit]
    damage = [e for e in events if isinstance(e, Damage)]
    assert damage, "a flipped byte must never go unnoticed"
    assert damage[0].offset == offsets[hit]
    assert sum(d.length for d in damage) == len(encode_frame(envs[hit]))


@given(envelope_lists, st.binary(min_size=1, max_size=200), st.data())
def test_garbage_between_frames_is_skipped_and_measured(
    envs: list[Envelope], junk: bytes, data: st.DataObject
) -> None:
    """Bytes inserted between frames are reported as one damaged region; all frames survive."""
    raw, offsets = _frames(envs)
    where = data.draw(st.sampled_from([*offsets, len(raw)]))
    spoiled = raw[:where] + junk + raw[where:]
    events = scan_bytes(spoiled)
    assert _decoded(events) == envs
    damage = [e for e in events if isinstance(e, Damage)]
    assert sum(d.length for d in damage) == len(junk)
    assert damage[0].offset == where


def test_zeroed_block_inside_a_body_keeps_the_record_count() -> None:
    """A zeroed block inside one body is a checksum failure that still knows its records."""
    envs = [
        Envelope(s, Priority.NORMAL, 10 + i, 1, 2, "identity", 50, bytes(range(50)))
        for i, s in enumerate(Signal)
    ]
    raw, offsets = _frames(envs)
    spoiled = bytearray(raw)
    spoiled[offsets[1] + FRAME_HEADER_SIZE + 5 : offsets[1] + FRAME_HEADER_SIZE + 25] = bytes(20)
    events = scan_bytes(bytes(spoiled))
    damage = [e for e in events if isinstance(e, Damage)]
    assert [(d.reason, d.records, d.signal) for d in damage] == [("checksum", 11, envs[1].signal)]
    assert _decoded(events) == [envs[0], envs[2]]
