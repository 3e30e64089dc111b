"""Which frames to send next: fresh data first, the backlog at a paced share (sans-IO).

Theory of operation. Every unsettled frame of a stream is in exactly one of
four places:

* the **fresh queue**: references to frames committed during the last
  ``fresh_window`` seconds (at most ``fresh_limit`` per stream), in commit
  order. They are served first.
* **in flight**: handed to the exporter, not yet settled.
* the **retry list**: released by the exporter; served before anything else.
* the **backlog**: on disk between the stream's backlog cursor and its
  *boundary* (the oldest fresh frame, or the end of the stream). It is
  read by scanning the segment files forward from the cursor, skipping
  settled ranges and frames in flight or waiting for retry.

Fresh frames that outlive the window simply fall off the head of the
queue: the boundary moves forward and they become backlog, read again from
disk later. Only references (a few dozen bytes each, bounded) and per
segment summaries live in memory, never the backlog itself.

Batches: a frame of at least a quarter of the batch size goes alone (sent
exactly as stored: compressed once); smaller frames are merged up to the
batch size.

Choosing between the two classes: a more important priority always goes
first. At equal priority, the backlog is served whenever it has received
less than ``backfill_share`` of the bytes served since both classes last
had data; otherwise fresh data goes. When only one class has data it gets
everything (the share paces the backlog against fresh data, it never leaves
capacity idle). In ``fifo`` mode there is no fresh queue: every stream is
read oldest first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from edge_agent.buffer.scan import Damage
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE, FrameRef, Segment, StreamKey
from edge_agent.buffer.table import ALL_STREAMS, SegmentTable

Mode = Literal["fresh_first", "fifo"]
Position = tuple[int, int]  # (segment seq, byte offset)


@dataclass(frozen=True)
class Pick:
    """Frames whose location is known (fresh or retry): read them and send them."""

    stream: StreamKey
    refs: tuple[FrameRef, ...]
    source: Literal["fresh", "retry"]


@dataclass(frozen=True)
class ScanRequest:
    """Read segment ``seq`` from ``offset`` up to ``limit`` and report back with :meth:`take_scanned`."""

    stream: StreamKey
    seq: int
    offset: int
    limit: int


@dataclass
class _Fresh:
    ref: FrameRef
    at: float


class ReplayPlanner:
    def __init__(
        self,
        table: SegmentTable,
        *,
        mode: Mode = "fresh_first",
        backfill_share: float = 0.25,
        fresh_window: float = 60.0,
        fresh_limit: int = 256,
    ) -> None:
        if not 0.0 < backfill_share <= 1.0:
            raise ValueError("backfill_share must be in (0, 1]")
        self.table = table
        self.mode = mode
        self.backfill_share = backfill_share
        self.fresh_window = fresh_window
        self.fresh_limit = fresh_limit
        self._fresh: dict[StreamKey, deque[_Fresh]] = {k: deque() for k in ALL_STREAMS}
        self._retry: dict[StreamKey, deque[FrameRef]] = {k: deque() for k in ALL_STREAMS}
        self._retry_keys: set[Position] = set()
        self._cursor: dict[StreamKey, Position | None] = dict.fromkeys(ALL_STREAMS)
        self.in_flight: dict[Position, FrameRef] = {}
        self._served = {"fresh": 0, "backlog": 0}

    # -- writer side -------------------------------------------------------

    def committed(self, stream: StreamKey, ref: FrameRef, now: float) -> None:
        """A frame was appended to ``stream``; in fresh-first mode it joins the fresh queue."""
        if self.mode == "fresh_first":
            self._fresh[stream].append(_Fresh(ref, now))
            self._expire(stream, now)

    def segment_removed(self, seq: int) -> None:
        """Forget queued references into a deleted segment (frames in flight stay, as orphans)."""
        for stream in ALL_STREAMS:
            fresh = self._fresh[stream]
            if any(f.ref.seq == seq for f in fresh):
                self._fresh[stream] = deque(f for f in fresh if f.ref.seq != seq)
            retry = self._retry[stream]
            if any(r.seq == seq for r in retry):
                self._retry[stream] = deque(r for r in retry if r.seq != seq)
        self._retry_keys = {k for k in self._retry_keys if k[0] != seq}

    # -- choosing ----------------------------------------------------------

    def next_pick(self, now: float, max_bytes: int) -> Pick | ScanRequest | None:
        """What to send next, or None when nothing is waiting."""
        for stream in ALL_STREAMS:
            if self._retry[stream]:
                return self._take_retry(stream, max_bytes)
        for stream in ALL_STREAMS:
            self._expire(stream, now)
        fresh = self._best_fresh()
        backlog = self._best_backlog()
        if fresh is None or backlog is None:
            self._served = {"fresh": 0, "backlog": 0}
        if fresh is not None and (backlog is None or not self._backlog_turn(fresh[1], backlog.stream[1])):
            return self._take_fresh(fresh, max_bytes)
        return backlog

    def _backlog_turn(self, fresh_priority: int, backlog_priority: int) -> bool:
        if fresh_priority != backlog_priority:
            return backlog_priority < fresh_priority
        total = self._served["fresh"] + self._served["backlog"]
        return self._served["backlog"] < self.backfill_share * total

    def _take_retry(self, stream: StreamKey, max_bytes: int) -> Pick:
        queue = self._retry[stream]
        refs: list[FrameRef] = []
        raw = 0
        while queue and _joins(refs, raw, queue[0], max_bytes):
            ref = queue.popleft()
            refs.append(ref)
            raw += ref.raw_size
            self._retry_keys.discard(ref.key)
            self.in_flight[ref.key] = ref
        return Pick(stream, tuple(refs), "retry")

    def _take_fresh(self, stream: StreamKey, max_bytes: int) -> Pick:
        queue = self._fresh[stream]
        refs: list[FrameRef] = []
        raw = 0
        while queue and _joins(refs, raw, queue[0].ref, max_bytes):
            ref = queue.popleft().ref
            refs.append(ref)
            raw += ref.raw_size
            self.in_flight[ref.key] = ref
        self._served["fresh"] += raw
        return Pick(stream, tuple(refs), "fresh")

    def _best_fresh(self) -> StreamKey | None:
        candidates = [s for s in ALL_STREAMS if self._fresh[s]]
        if not candidates:
            return None
        return min(candidates, key=lambda s: (s[1], self._fresh[s][0].ref.key))

    def _best_backlog(self) -> ScanRequest | None:
        best: ScanRequest | None = None
        for stream in ALL_STREAMS:
            request = self._scan_request(stream)
            if request is not None and (
                best is None or (stream[1], request.seq) < (best.stream[1], best.seq)
            ):
                best = request
        return best

    # -- backlog -----------------------------------------------------------

    def _boundary(self, stream: StreamKey) -> Position | None:
        fresh = self._fresh[stream]
        return fresh[0].ref.key if fresh else None

    def _scan_request(self, stream: StreamKey) -> ScanRequest | None:
        position = self._normalize(stream)
        if position is None:
            return None
        seq, offset = position
        segment = self.table.get(seq)
        assert segment is not None
        limit = segment.size
        boundary = self._boundary(stream)
        if boundary is not None and boundary[0] == seq:
            limit = min(limit, boundary[1])
        if (boundary is not None and position >= boundary) or offset >= limit:
            return None
        return ScanRequest(stream, seq, offset, limit)

    def _normalize(self, stream: StreamKey) -> Position | None:
        """Move the stream's cursor past settled, in-flight and retrying frames; None if no segment."""
        position = self._cursor[stream]
        segment = self._segment_at(stream, position)
        while segment is not None:
            offset = position[1] if position is not None and position[0] == segment.seq else 0
            offset = self._skip_claimed(segment, max(offset, SEGMENT_HEADER_SIZE))
            position = (segment.seq, offset)
            following = self.table.first_in_stream(stream, segment.seq)
            if offset < segment.size or following is None:
                self._cursor[stream] = position
                return position
            segment = following  # this one is used up: on to the next
        return None

    def _segment_at(self, stream: StreamKey, position: Position | None) -> Segment | None:
        if position is None:
            return self.table.first_in_stream(stream)
        segment = self.table.get(position[0])
        if segment is not None and segment.stream == stream:
            return segment
        return self.table.first_in_stream(stream, position[0])

    def _skip_claimed(self, segment: Segment, offset: int) -> int:
        while offset < segment.size:
            settled_end = segment.settled.run_end(offset)
            if settled_end != offset:
                offset = settled_end
                continue
            ref = self.in_flight.get((segment.seq, offset))
            if ref is None and (segment.seq, offset) in self._retry_keys:
                ref = next(r for r in self._retry[segment.stream] if r.key == (segment.seq, offset))
            if ref is None:
                return offset
            offset = ref.end
        return offset

    def take_scanned(
        self, request: ScanRequest, items: list[FrameRef | Damage], max_bytes: int
    ) -> tuple[list[FrameRef], list[Damage]]:
        """Given what was found from ``request.offset`` on, choose frames to send.

        ``items`` must be contiguous from ``request.offset``. Damage is settled
        (the caller counts it); frames already settled or claimed are
        skipped; the cursor moves past everything consumed.
        """
        segment = self.table.get(request.seq)
        picked: list[FrameRef] = []
        damages: list[Damage] = []
        raw = 0
        position = request.offset
        for item in items:
            if segment is None or item.offset != position or item.offset >= request.limit:
                break
            if isinstance(item, Damage):
                if not segment.settled.covers(item.offset, item.end):  # not already known and counted
                    segment.settle(item.offset, item.end, item.records)
                    damages.append(item)
            elif not self._is_claimed(segment, item):
                if not _joins(picked, raw, item, max_bytes):
                    break
                picked.append(item)
                raw += item.raw_size
                self.in_flight[item.key] = item
            position = item.end
        self._cursor[request.stream] = (request.seq, position)
        self._served["backlog"] += raw
        return picked, damages

    def _is_claimed(self, segment: Segment, ref: FrameRef) -> bool:
        return (
            segment.settled.covers(ref.offset, ref.end)
            or ref.key in self.in_flight
            or ref.key in self._retry_keys
        )

    # -- settling ----------------------------------------------------------

    def acked(self, refs: tuple[FrameRef, ...]) -> list[Segment]:
        """Settle delivered (or permanently refused) frames; returns segments now done."""
        done = []
        for ref in refs:
            self.in_flight.pop(ref.key, None)
            segment = self.table.get(ref.seq)
            if segment is not None:
                segment.settle(ref.offset, ref.end, ref.records)
                if segment.is_done():
                    done.append(segment)
        return done

    def released(self, stream: StreamKey, refs: tuple[FrameRef, ...]) -> int:
        """Queue frames for another attempt; returns records lost because their segment is gone."""
        lost = 0
        for ref in reversed(refs):
            self.in_flight.pop(ref.key, None)
            if self.table.get(ref.seq) is None:
                lost += ref.records
                continue
            self._retry[stream].appendleft(ref)
            self._retry_keys.add(ref.key)
        return lost

    def in_flight_records(self, seq: int) -> int:
        return sum(r.records for k, r in self.in_flight.items() if k[0] == seq)

    def in_flight_bytes(self) -> int:
        return sum(r.raw_size for r in self.in_flight.values())

    def _expire(self, stream: StreamKey, now: float) -> None:
        fresh = self._fresh[stream]
        while fresh and (now - fresh[0].at > self.fresh_window or len(fresh) > self.fresh_limit):
            fresh.popleft()  # it stays on disk and becomes backlog


def _joins(taken: list[FrameRef], raw: int, ref: FrameRef, max_bytes: int) -> bool:
    """Whether ``ref`` joins a batch holding ``taken`` (``raw`` bytes).

    A frame of a quarter of ``max_bytes`` or more is a good request body on its
    own: it goes alone and is sent exactly as stored. Smaller frames are merged
    up to ``max_bytes`` (which means decompressing and compressing again).
    """
    if not taken:
        return True
    big = 4 * max(ref.raw_size, taken[0].raw_size) >= max_bytes
    return not big and raw + ref.raw_size <= max_bytes
