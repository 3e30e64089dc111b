"""Planning one group commit: which segment each frame goes to, what the budget evicts (sans-IO).

Theory of operation: the committer compresses every open batch into an
encoded envelope (:class:`Prepared`), then asks :func:`plan_commit` for a
:class:`CommitPlan`: segments to delete for space (victims), segments to
seal and create, and where each frame is appended. The plan is executed by
the store in one worker-thread call (deletes, then creates and appends, then
fsync), which reports how far it got; :func:`apply_commit` then updates the
segment table with exactly what reached the disk. Nothing in the table
changes before the I/O succeeded, so a failed write (disk full, I/O error)
leaves the bookkeeping true and the batches are retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.buffer.batching import OpenBatch
from edge_agent.buffer.budget import Policy, plan_space
from edge_agent.buffer.frames import Envelope
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE, FrameRef, Segment, SegmentHeader, StreamKey
from edge_agent.buffer.table import SegmentTable


@dataclass(frozen=True)
class Prepared:
    """An open batch compressed and encoded as a CBOR envelope, ready to frame.

    With ``envelope`` set, the encoded envelope is ``body + tail``: ``body`` is its
    head and ``tail`` the compressed payload (``envelope.payload``), kept apart so it
    is written as it came out of the compressor (``writev``), never copied into an
    encoder's output; the envelope itself goes to the reader once written. Without
    it, ``body`` is the whole encoded envelope. ``body_crc`` is the CRC32 of the
    envelope when known (computed in the compression thread); sealed frames get
    theirs after sealing.
    """

    batch: OpenBatch
    body: bytes  # sealed later with its segment's aad
    frame_length: int
    body_crc: int | None = None
    envelope: Envelope | None = None

    @property
    def tail(self) -> bytes:
        return self.envelope.payload if self.envelope is not None else b""


@dataclass(frozen=True)
class Append:
    header: SegmentHeader  # of the target segment (its seq and uid seal the frame)
    offset: int
    prepared: Prepared


@dataclass
class CommitPlan:
    victims: list[int] = field(default_factory=list)
    seals: list[int] = field(default_factory=list)
    creates: list[SegmentHeader] = field(default_factory=list)
    appends: list[Append] = field(default_factory=list)
    refused: list[Prepared] = field(default_factory=list)  # no room, dropped (drop_* policies)
    deferred: list[Prepared] = field(default_factory=list)  # no room, kept in memory (block)
    next_seq: int = 0


@dataclass
class CommitResult:
    """How far the store got executing a plan (everything, unless ``error`` is set)."""

    deleted: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    appended: int = 0
    written_bytes: int = 0
    fsync_seconds: float = 0.0
    acks_logged: bool = False
    error: OSError | None = None


@dataclass
class _Target:
    header: SegmentHeader
    size: int
    frames: int


def plan_commit(
    table: SegmentTable,
    prepared: list[Prepared],
    *,
    segment_bytes: int,
    limit: int,
    policy: Policy,
    next_seq: int,
    new_header: Callable[[int, StreamKey], SegmentHeader],
) -> CommitPlan:
    """Place ``prepared`` (most important first) into segments under the disk ``limit``."""
    plan = CommitPlan(next_seq=next_seq)
    used = table.total_bytes()
    targets: dict[StreamKey, _Target] = {}
    touched: set[int] = set()
    for item in prepared:
        stream = item.batch.stream
        need = item.frame_length + SEGMENT_HEADER_SIZE  # room for a new segment's header, to be safe
        candidates = [s for s in table if s.seq not in touched and s.seq not in plan.victims]
        space = plan_space(candidates, used=used, need=need, limit=limit, priority=stream[1], policy=policy)
        if not space.admit:
            (plan.deferred if policy == "block" else plan.refused).append(item)
            continue
        for seq in space.victims:
            victim = table.get(seq)
            assert victim is not None
            plan.victims.append(seq)
            used -= victim.size
        target = targets.get(stream) or _current(table, stream, plan.victims)
        if target is None or (target.frames and target.size + item.frame_length > segment_bytes):
            if target is not None:
                plan.seals.append(target.header.seq)
            header = new_header(plan.next_seq, stream)
            plan.next_seq += 1
            plan.creates.append(header)
            target = _Target(header, SEGMENT_HEADER_SIZE, 0)
            used += SEGMENT_HEADER_SIZE
        plan.appends.append(Append(target.header, target.size, item))
        target.size += item.frame_length
        target.frames += 1
        used += item.frame_length
        targets[stream] = target
        touched.add(target.header.seq)
    return plan


def _current(table: SegmentTable, stream: StreamKey, victims: list[int]) -> _Target | None:
    segment = table.open_segment(stream)
    if segment is None or segment.seq in victims:
        return None
    return _Target(segment.header, segment.size, segment.frames)


def apply_commit(
    table: SegmentTable, plan: CommitPlan, result: CommitResult
) -> list[tuple[StreamKey, FrameRef]]:
    """Record in ``table`` what ``result`` says reached the disk (victims are removed by the caller,
    which has to count them). Returns the frames written, in order."""
    for header in plan.creates:
        if header.seq in result.created:
            table.add(Segment(header))
    for seq in plan.seals:
        segment = table.get(seq)
        if segment is not None:
            segment.sealed = True
    written: list[tuple[StreamKey, FrameRef]] = []
    for append in plan.appends[: result.appended]:
        segment = table.get(append.header.seq)
        assert segment is not None
        batch = append.prepared.batch
        length = append.prepared.frame_length
        segment.note_frame(append.offset, length, batch.records, batch.first_ns, batch.last_ns)
        ref = FrameRef(
            append.header.seq,
            append.offset,
            length,
            batch.records,
            batch.raw_size,
            batch.first_ns,
            batch.last_ns,
        )
        written.append((batch.stream, ref))
    if result.error is not None:
        # whatever follows the last good frame in these files is unknown: never append to them again
        for append in plan.appends[result.appended :]:
            segment = table.get(append.header.seq)
            if segment is not None:
                segment.sealed = True
    return written
