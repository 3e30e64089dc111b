"""Segment names sort in creation order; headers round-trip and reject damage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.buffer.segments import (
    SEGMENT_HEADER_SIZE,
    Segment,
    SegmentHeader,
    parse_segment_header,
    parse_segment_name,
    segment_name,
)
from edge_agent.otlp.fragment import Priority, Signal

HEADER = SegmentHeader(
    42, Signal.METRICS, Priority.NORMAL, uid=7, created_ns=123, encrypted=True, key_id=b"abcd"
)


@given(st.lists(st.integers(0, 10**12 - 1), min_size=2, max_size=20, unique=True), st.data())
def test_names_sort_in_sequence_order(seqs: list[int], data: st.DataObject) -> None:
    """Whatever the streams, sorting file names sorts by sequence number."""
    names = [
        segment_name(s, data.draw(st.sampled_from(Signal)), data.draw(st.sampled_from(Priority)))
        for s in seqs
    ]
    assert [parse_segment_name(n)[0] for n in sorted(names)] == sorted(seqs)  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    [
        "state.cbor",
        "lock",
        "42-metrics-normal.seg",
        "000000000042-metrics-urgent.seg",
        "000000000042-metrics-normal.seg.bak",
    ],
)
def test_other_files_are_not_segments(name: str) -> None:
    """Only exact segment names parse."""
    assert parse_segment_name(name) is None


def test_header_round_trips_and_detects_any_flipped_byte() -> None:
    """A header decodes to itself; any flipped byte makes it unreadable."""
    raw = HEADER.encode()
    assert len(raw) == SEGMENT_HEADER_SIZE
    assert parse_segment_header(raw) == HEADER
    for i in range(SEGMENT_HEADER_SIZE):
        spoiled = bytearray(raw)
        spoiled[i] ^= 0x01
        assert parse_segment_header(bytes(spoiled)) is None
    assert parse_segment_header(raw[:20]) is None


def test_segment_is_done_only_when_sealed_and_fully_settled() -> None:
    """Deletion needs both: no more appends, and every byte after the header settled."""
    seg = Segment(HEADER)
    seg.note_frame(48, 100, 3, 0, 0)
    seg.note_frame(148, 50, 2, 0, 0)
    assert seg.settle(148, 198, 2) == 2
    assert seg.settle(148, 198, 2) == 0  # settling twice counts once
    seg.settle(48, 148, 3)
    assert not seg.is_done()
    seg.sealed = True
    assert seg.is_done() and seg.unsettled_records == 0
