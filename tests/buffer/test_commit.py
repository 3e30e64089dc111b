"""Commit planning: segments roll over at their size, the budget evicts before writing, and the
table only records what the store reports as written."""

from __future__ import annotations

from edge_agent.buffer.batching import OpenBatch
from edge_agent.buffer.commit import CommitResult, Prepared, apply_commit, plan_commit
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE, Segment, SegmentHeader, StreamKey
from edge_agent.buffer.table import SegmentTable
from edge_agent.otlp.fragment import Priority, Signal

LOGS = (Signal.LOGS, Priority.NORMAL)
BULK = (Signal.LOGS, Priority.BULK)


def _header(seq: int, stream: StreamKey) -> SegmentHeader:
    return SegmentHeader(seq, stream[0], stream[1], uid=seq, created_ns=0)


def _prepared(stream: StreamKey, length: int, records: int = 1, bid: int = 0) -> Prepared:
    batch = OpenBatch(bid, stream, 0.0, [b"x"], 1, records)
    return Prepared(batch, b"body", length)


def _plan(
    table: SegmentTable,
    items: list[Prepared],
    *,
    limit: int = 10_000,
    policy: str = "drop_oldest",
    next_seq: int = 0,
):  # type: ignore[no-untyped-def]
    return plan_commit(
        table, items, segment_bytes=300, limit=limit, policy=policy, next_seq=next_seq, new_header=_header
    )  # type: ignore[arg-type]


def test_frames_fill_a_segment_then_roll_over() -> None:
    """A new segment is created when the next frame would pass segment_bytes; the old one is sealed."""
    table = SegmentTable()
    plan = _plan(table, [_prepared(LOGS, 100, bid=i) for i in range(4)])
    assert [h.seq for h in plan.creates] == [0, 1]
    assert [(a.header.seq, a.offset) for a in plan.appends] == [(0, 48), (0, 148), (1, 48), (1, 148)]
    assert plan.seals == [0]
    written = apply_commit(table, plan, CommitResult(created=[0, 1], appended=4))
    assert [r.offset for _, r in written] == [48, 148, 48, 148]
    assert table.get(0).sealed and not table.get(1).sealed  # type: ignore[union-attr]
    assert table.total_bytes() == 2 * (SEGMENT_HEADER_SIZE + 200)


def test_a_frame_larger_than_a_segment_gets_one_of_its_own() -> None:
    """Oversized frames are never split and never refused for the segment size alone."""
    plan = _plan(SegmentTable(), [_prepared(LOGS, 1000)])
    assert len(plan.creates) == 1 and plan.appends[0].offset == SEGMENT_HEADER_SIZE


def test_budget_victims_are_chosen_before_writing_and_refusals_reported() -> None:
    """Under the limit, bulk segments are evicted for normal data; bulk data that cannot fit is refused."""
    table = SegmentTable()
    old = Segment(_header(0, BULK), size=400, sealed=True, frames=1, records=9)
    table.add(old)
    plan = _plan(table, [_prepared(LOGS, 200), _prepared(BULK, 500, bid=1)], limit=600, next_seq=1)
    assert plan.victims == [0]
    assert [p.batch.id for p in plan.refused] == [1]
    assert [h.seq for h in plan.creates] == [1]


def test_block_policy_defers_instead_of_refusing() -> None:
    """Under 'block' a frame with no room is kept for later, not dropped."""
    plan = _plan(SegmentTable(), [_prepared(LOGS, 900)], limit=500, policy="block")
    assert plan.deferred and not plan.refused and not plan.appends


def test_only_what_was_written_is_recorded_and_a_failed_segment_is_sealed() -> None:
    """A store that stopped after the first append leaves one frame in the table and seals the file."""
    table = SegmentTable()
    plan = _plan(table, [_prepared(LOGS, 100, bid=0), _prepared(LOGS, 100, bid=1)])
    result = CommitResult(created=[0], appended=1, error=OSError(28, "No space left on device"))
    written = apply_commit(table, plan, result)
    assert len(written) == 1
    seg = table.get(0)
    assert seg is not None and seg.frames == 1 and seg.sealed
