"""Rebuilding segment summaries on start (sans-IO: fed with file sizes, state and scan events).

Rules, in order of preference:

1. A sealed segment whose state record matches (same uid, same size, every
   settled range inside the file) is trusted without reading it. Damage in
   it, if any, is found when its frames are read for export, and counted
   then.
2. Any other segment is scanned: intact frames are kept, damaged frames
   and garbage in the middle are settled (skipped) and counted, a torn tail
   is truncated. Settled ranges from a matching state record are kept if
   they fit in the file; a record that points past the end of the file is
   not trusted at all (its frames are sent again: at-least-once).
3. A segment in the state but missing on disk is forgotten; its unsettled
   records are counted as dropped (reason ``segment_missing``), or
   ``corrupt`` when the file was there but unusable (a torn header).
4. When a segment is deleted after all its readable frames were settled,
   records the state counted in it but that no frame delivered (frames
   whose header was destroyed) are counted as ``corrupt`` then.

Nothing here can make start-up fail: the worst case is "everything found is
resent, everything unreadable is counted".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from edge_agent.buffer.cursor import SegmentRecord
from edge_agent.buffer.ranges import RangeSet
from edge_agent.buffer.scan import Damage, ScannedFrame
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE, Segment, SegmentHeader
from edge_agent.otlp.fragment import Signal


@dataclass
class RecoveryReport:
    """What start-up found; logged once and shown by ``edge-agent buffer verify``."""

    trusted: int = 0
    scanned: int = 0
    frames: int = 0
    truncated_bytes: int = 0
    damage: list[tuple[str, Damage]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    newer: list[str] = field(default_factory=list)  # segments of a newer format, left alone
    # segments the state knew about that are gone (reason segment_missing) or were
    # unusable and removed (reason corrupt): (file name, signal, unsent records, reason)
    lost: list[tuple[str, Signal, int, str]] = field(default_factory=list)
    state_problem: str = ""

    def dropped(self) -> Counter[tuple[Signal, str]]:
        """Records lost, by (signal, reason)."""
        lost: Counter[tuple[Signal, str]] = Counter()
        for _, damage in self.damage:
            if damage.signal is not None and damage.records:
                reason = "torn_write" if damage.reason == "torn" else "corrupt"
                lost[(damage.signal, reason)] += damage.records
        for _, signal, records, reason in self.lost:
            lost[(signal, reason)] += records
        return lost

    def corrupt_bytes(self) -> int:
        return sum(d.length for _, d in self.damage)

    def is_clean(self) -> bool:
        return not (self.damage or self.lost or self.state_problem)


def trusted_segment(header: SegmentHeader, file_size: int, record: SegmentRecord | None) -> Segment | None:
    """The segment as the state describes it, if the state can be trusted for it (rule 1)."""
    if record is None or not record.sealed or record.uid != header.uid or record.size != file_size:
        return None
    if any(end > file_size for _, end in record.settled):
        return None
    return Segment(
        header,
        size=file_size,
        frames=record.frames,
        records=record.records,
        first_ns=record.first_ns,
        last_ns=record.last_ns,
        sealed=True,
        settled=RangeSet(record.settled),
        settled_records=record.settled_records,
    )


class SegmentRebuilder:
    """Accumulates one segment's scan events into a :class:`Segment` (rule 2)."""

    def __init__(self, header: SegmentHeader, file_size: int, record: SegmentRecord | None) -> None:
        self.segment = Segment(header, sealed=True)
        self.damage: list[Damage] = []
        self.truncate_at: int | None = None
        self._prior = RangeSet()
        if record is not None and record.uid == header.uid and all(e <= file_size for _, e in record.settled):
            self._prior = RangeSet(record.settled)

    def frame(self, frame: ScannedFrame) -> None:
        h = frame.header
        self.segment.note_frame(frame.offset, h.frame_length, h.records, 0, 0)
        if self._prior.covers(frame.offset, frame.end):
            self.segment.settle(frame.offset, frame.end, h.records)

    def damaged(self, damage: Damage) -> None:
        """Damage in the middle of the file: skip it for good, count it."""
        self.segment.size = max(self.segment.size, damage.end)
        self.segment.settle(damage.offset, damage.end, 0)
        self.damage.append(damage)

    def finish(self, tail: Damage | None) -> Segment:
        """The scan reached the end of the file; ``tail`` is a torn tail to truncate."""
        if tail is not None:
            self.damage.append(tail)
            self.truncate_at = max(tail.offset, SEGMENT_HEADER_SIZE)
        return self.segment
