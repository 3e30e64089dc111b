"""Budget policy: lowest priority and oldest go first; more important data is never evicted for less."""

from __future__ import annotations

import pytest

from edge_agent.buffer.budget import plan_space
from edge_agent.buffer.segments import Segment, SegmentHeader
from edge_agent.otlp.fragment import Priority, Signal

C, N, B = Priority.CRITICAL, Priority.NORMAL, Priority.BULK


def _seg(seq: int, priority: Priority, size: int = 100, done: bool = False) -> Segment:
    seg = Segment(SegmentHeader(seq, Signal.LOGS, priority, uid=seq, created_ns=0), size=size, sealed=True)
    seg.note_frame(48, size - 48, 1, 0, 0)
    if done:
        seg.settle(48, size, 1)
    return seg


SEGMENTS = [_seg(1, N), _seg(2, B), _seg(3, C), _seg(4, B), _seg(5, N)]


@pytest.mark.parametrize(
    ("policy", "incoming", "need", "admit", "victims"),
    [
        ("drop_oldest", N, 50, True, ()),  # fits
        ("drop_oldest", N, 150, True, (2,)),  # oldest bulk first
        ("drop_oldest", N, 250, True, (2, 4)),
        ("drop_oldest", N, 350, True, (2, 4, 1)),  # then oldest normal
        ("drop_oldest", N, 450, True, (2, 4, 1, 5)),
        ("drop_oldest", N, 550, False, ()),  # would need critical: refuse instead
        ("drop_oldest", B, 150, True, (2,)),
        ("drop_oldest", B, 250, True, (2, 4)),
        ("drop_oldest", B, 350, False, ()),  # bulk never evicts normal
        ("drop_oldest", C, 550, True, (2, 4, 1, 5, 3)),
        ("drop_newest", N, 250, True, (2, 4)),  # less important data may still go
        ("drop_newest", N, 350, False, ()),  # same priority: the new frame is dropped
        ("drop_newest", B, 150, False, ()),
        ("block", C, 350, True, (2, 4, 1)),
        ("block", B, 150, False, ()),
        ("drop_oldest", N, 700, False, ()),  # larger than the whole limit
    ],
)
def test_eviction_order(
    policy: str, incoming: Priority, need: int, admit: bool, victims: tuple[int, ...]
) -> None:
    """Table of what each policy evicts for a frame of a given priority and size."""
    plan = plan_space(SEGMENTS, used=500, need=need, limit=600, priority=incoming, policy=policy)  # type: ignore[arg-type]
    assert (plan.admit, plan.victims) == (admit, victims)


def test_settled_segments_go_before_anything_is_lost() -> None:
    """Fully settled segments are deleted first whatever their priority."""
    segments = [_seg(1, B), _seg(2, C, done=True)]
    plan = plan_space(segments, used=200, need=100, limit=200, priority=N, policy="drop_newest")
    assert plan.admit and plan.victims == (2,)
    plan = plan_space(segments, used=200, need=150, limit=200, priority=N, policy="drop_newest")
    assert plan.admit and plan.victims == (2, 1)
