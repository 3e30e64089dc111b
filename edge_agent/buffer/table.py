"""The set of live segments, per stream and in order (sans-IO)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from edge_agent.buffer.segments import Segment, StreamKey
from edge_agent.otlp.fragment import Priority, Signal

ALL_STREAMS: tuple[StreamKey, ...] = tuple((s, p) for p in Priority for s in Signal)


class SegmentTable:
    """Segments by sequence number, and each stream's segments in sequence order."""

    def __init__(self) -> None:
        self._by_seq: dict[int, Segment] = {}
        self._streams: dict[StreamKey, list[int]] = {key: [] for key in ALL_STREAMS}

    def __iter__(self) -> Iterator[Segment]:
        return (self._by_seq[seq] for seq in sorted(self._by_seq))

    def __len__(self) -> int:
        return len(self._by_seq)

    def add(self, segment: Segment) -> None:
        if segment.seq in self._by_seq:
            raise ValueError(f"segment {segment.seq} is already in the table")
        self._by_seq[segment.seq] = segment
        bisect.insort(self._streams[segment.stream], segment.seq)

    def remove(self, seq: int) -> Segment:
        segment = self._by_seq.pop(seq)
        self._streams[segment.stream].remove(seq)
        return segment

    def get(self, seq: int) -> Segment | None:
        return self._by_seq.get(seq)

    def stream(self, key: StreamKey) -> list[Segment]:
        return [self._by_seq[seq] for seq in self._streams[key]]

    def first_in_stream(self, key: StreamKey, after: int = -1) -> Segment | None:
        """The stream's first segment with a sequence number greater than ``after``."""
        seqs = self._streams[key]
        i = bisect.bisect_right(seqs, after)
        return self._by_seq[seqs[i]] if i < len(seqs) else None

    def last_in_stream(self, key: StreamKey) -> Segment | None:
        seqs = self._streams[key]
        return self._by_seq[seqs[-1]] if seqs else None

    def open_segment(self, key: StreamKey) -> Segment | None:
        """The stream's segment still taking frames, if any."""
        last = self.last_in_stream(key)
        return last if last is not None and not last.sealed else None

    def total_bytes(self) -> int:
        return sum(s.size for s in self._by_seq.values())

    def max_seq(self) -> int:
        return max(self._by_seq, default=-1)

    def unsettled_records(self) -> dict[Signal, int]:
        counts = dict.fromkeys(Signal, 0)
        for segment in self._by_seq.values():
            counts[segment.header.signal] += segment.unsettled_records
        return counts

    def done(self) -> list[Segment]:
        return [s for s in self if s.is_done()]
