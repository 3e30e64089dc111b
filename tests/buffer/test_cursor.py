"""Cursor state: round-trips exactly; anything else is refused with a reason."""

from __future__ import annotations

import cbor2
import pytest

from edge_agent.buffer.cursor import StateDecodeError, decode_state, encode_state
from edge_agent.buffer.segments import Segment, SegmentHeader
from edge_agent.otlp.fragment import Priority, Signal


def _segment() -> Segment:
    seg = Segment(SegmentHeader(3, Signal.TRACES, Priority.BULK, uid=99, created_ns=5), sealed=True)
    seg.note_frame(48, 100, 4, 10, 20)
    seg.note_frame(148, 100, 6, 15, 30)
    seg.settle(148, 248, 6)
    return seg


def test_state_round_trips() -> None:
    """Every field of every segment comes back."""
    state = decode_state(encode_state([_segment()], next_seq=4))
    assert state.next_seq == 4
    rec = state.segments[3]
    assert (rec.uid, rec.signal, rec.priority, rec.size, rec.sealed) == (
        99,
        Signal.TRACES,
        Priority.BULK,
        248,
        True,
    )
    assert (rec.frames, rec.records, rec.first_ns, rec.last_ns) == (2, 10, 10, 30)
    assert (rec.settled, rec.settled_records) == (((148, 248),), 6)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not CBOR"),
        (b"\x00garbage", "not a buffer state"),
        (cbor2.dumps({"format": "edge-agent-buffer-state", "v": 9}), "version"),
        (
            cbor2.dumps({"format": "edge-agent-buffer-state", "v": 1, "next_seq": -1, "segments": []}),
            "invalid",
        ),
        (
            cbor2.dumps(
                {"format": "edge-agent-buffer-state", "v": 1, "next_seq": 1, "segments": [{"seq": 1}]}
            ),
            "invalid",
        ),
    ],
)
def test_unusable_state_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    """Garbage, other versions and wrong types raise StateDecodeError, never anything else."""
    with pytest.raises(StateDecodeError, match=reason):
        decode_state(data)


def test_settled_range_ending_before_it_starts_is_refused() -> None:
    """A range like [200, 100) is not trusted."""
    raw = cbor2.loads(encode_state([_segment()], 4))
    raw["segments"][0]["settled"] = [[200, 100]]
    with pytest.raises(StateDecodeError):
        decode_state(cbor2.dumps(raw))


def test_ack_log_applies_once_and_ignores_a_torn_tail() -> None:
    """Logged acks fold into the state once each; a torn entry and another file's uid are ignored;
    a segment newer than the state gets a stub holding its settled ranges."""
    from edge_agent.buffer.cursor import apply_acks, decode_acks, encode_acks

    state = decode_state(encode_state([_segment()], next_seq=4))
    log = encode_acks([(3, 99, 48, 148, 4), (3, 99, 48, 148, 4), (3, 7, 0, 10, 1), (8, 99, 48, 60, 1)])
    acks = decode_acks(log + encode_acks([(3, 99, 0, 48, 0)])[:-2])
    assert len(acks) == 4
    applied = apply_acks(state, acks)
    rec = applied.segments[3]
    assert (rec.settled, rec.settled_records) == (((48, 248),), 10)
    stub = applied.segments[8]
    assert (stub.uid, stub.settled, stub.sealed, stub.records) == (99, ((48, 60),), False, 0)
