"""An in-memory stand-in for segment files, to drive the sans-IO planners in tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.buffer.replay import Pick, ReplayPlanner, ScanRequest
from edge_agent.buffer.scan import Damage
from edge_agent.buffer.segments import FrameRef, Segment, SegmentHeader, StreamKey
from edge_agent.buffer.table import SegmentTable


@dataclass
class FakeLog:
    """Segments as lists of frame references, with the real table and planner on top."""

    segment_frames: int = 4
    table: SegmentTable = field(default_factory=SegmentTable)
    frames: dict[int, list[FrameRef]] = field(default_factory=dict)
    next_seq: int = 0

    def append(self, stream: StreamKey, records: int, raw: int, *, t: int = 0) -> FrameRef:
        seg = self.table.open_segment(stream)
        if seg is None or seg.frames >= self.segment_frames:
            if seg is not None:
                seg.sealed = True
            seg = Segment(SegmentHeader(self.next_seq, stream[0], stream[1], uid=self.next_seq, created_ns=t))
            self.table.add(seg)
            self.frames[seg.seq] = []
            self.next_seq += 1
        length = 100 + raw // 10
        ref = FrameRef(seg.seq, seg.size, length, records, raw, t, t)
        seg.note_frame(ref.offset, length, records, t, t)
        self.frames[seg.seq].append(ref)
        return ref

    def scan(self, request: ScanRequest) -> list[FrameRef | Damage]:
        return [r for r in self.frames[request.seq] if request.offset <= r.offset < request.limit]

    def take(
        self, planner: ReplayPlanner, now: float, max_bytes: int
    ) -> tuple[StreamKey, tuple[FrameRef, ...], str] | None:
        """One next_batch's worth, as the reader shell would do it."""
        while True:
            choice = planner.next_pick(now, max_bytes)
            if choice is None:
                return None
            if isinstance(choice, Pick):
                return choice.stream, choice.refs, choice.source
            picked, _ = planner.take_scanned(choice, self.scan(choice), max_bytes)
            if picked:
                return choice.stream, tuple(picked), "backlog"
