"""Replay planner: fresh first, paced backlog, each frame out once at a time, nothing forgotten."""

from __future__ import annotations

import random

import pytest

from edge_agent.buffer.replay import ReplayPlanner
from edge_agent.otlp.fragment import Priority, Signal
from tests.buffer.planner_harness import FakeLog

METRICS = (Signal.METRICS, Priority.NORMAL)
LOGS_BULK = (Signal.LOGS, Priority.BULK)
ALERTS = (Signal.LOGS, Priority.CRITICAL)


def _planner(log: FakeLog, **kw: object) -> ReplayPlanner:
    return ReplayPlanner(log.table, **kw)  # type: ignore[arg-type]


def test_recovered_data_is_backlog_read_oldest_first() -> None:
    """Frames on disk at start are read in commit order, batched up to max_bytes."""
    log = FakeLog()
    refs = [log.append(METRICS, 1, 100) for _ in range(10)]
    planner = _planner(log)
    out = []
    while (taken := log.take(planner, 0.0, 300)) is not None:
        out.extend(taken[1])
        assert sum(r.raw_size for r in taken[1]) <= 300
        assert taken[2] == "backlog"
    assert out == refs


def test_fresh_data_goes_before_the_backlog() -> None:
    """After an outage, frames committed within the fresh window are sent before older ones."""
    log = FakeLog()
    old = [log.append(METRICS, 1, 100) for _ in range(6)]
    planner = _planner(log, fresh_window=60.0)
    fresh = log.append(METRICS, 1, 100, t=1)
    planner.committed(METRICS, fresh, now=1000.0)
    first = log.take(planner, 1000.5, 100)
    assert first is not None and first[1] == (fresh,) and first[2] == "fresh"
    rest = []
    while (taken := log.take(planner, 1001.0, 100)) is not None:
        rest.extend(taken[1])
    assert rest == old


def test_backlog_gets_its_share_while_fresh_data_keeps_coming() -> None:
    """With both waiting, the backlog receives about backfill_share of the bytes sent."""
    log = FakeLog(segment_frames=1000)
    for _ in range(400):
        log.append(METRICS, 1, 100)
    planner = _planner(log, backfill_share=0.25, fresh_window=1e9)
    served = {"fresh": 0, "backlog": 0}
    for i in range(200):
        planner.committed(METRICS, log.append(METRICS, 1, 100), now=float(i))
        taken = log.take(planner, float(i), 100)
        assert taken is not None
        planner.acked(taken[1])
        served["fresh" if taken[2] == "fresh" else "backlog"] += 1
    assert served["backlog"] == pytest.approx(50, abs=2)


def test_fresh_frames_that_outlive_the_window_become_backlog() -> None:
    """A frame older than fresh_window is no longer fresh, but it is still sent, oldest first."""
    log = FakeLog()
    planner = _planner(log, fresh_window=10.0)
    a = log.append(METRICS, 1, 100)
    planner.committed(METRICS, a, now=0.0)
    b = log.append(METRICS, 1, 100)
    planner.committed(METRICS, b, now=15.0)
    first = log.take(planner, 20.0, 100)
    assert first is not None and first[1] == (b,) and first[2] == "fresh"
    second = log.take(planner, 20.0, 100)
    assert second is not None and second[1] == (a,) and second[2] == "backlog"
    assert log.take(planner, 20.0, 100) is None


def test_fifo_mode_sends_strictly_oldest_first() -> None:
    """In fifo mode new frames queue behind the backlog."""
    log = FakeLog()
    refs = [log.append(METRICS, 1, 100) for _ in range(3)]
    planner = _planner(log, mode="fifo")
    new = log.append(METRICS, 1, 100)
    planner.committed(METRICS, new, now=0.0)
    order = []
    while (taken := log.take(planner, 0.0, 100)) is not None:
        order.extend(taken[1])
    assert order == [*refs, new]


def test_more_important_priority_goes_first() -> None:
    """Critical backlog is sent before normal fresh data; bulk waits for both."""
    log = FakeLog()
    bulk = log.append(LOGS_BULK, 1, 100)
    alert = log.append(ALERTS, 1, 100)
    planner = _planner(log)
    metric = log.append(METRICS, 1, 100)
    planner.committed(METRICS, metric, now=0.0)
    order = [log.take(planner, 0.0, 100) for _ in range(3)]
    assert [t[1] for t in order if t] == [(alert,), (metric,), (bulk,)]


def test_released_frames_are_retried_first_and_never_duplicated_in_flight() -> None:
    """A released batch comes back next; frames in flight are never handed out twice."""
    log = FakeLog()
    refs = [log.append(METRICS, 1, 100) for _ in range(8)]
    planner = _planner(log)
    a = log.take(planner, 0.0, 450)
    b = log.take(planner, 0.0, 450)
    assert a is not None and b is not None
    assert len(a[1]) == len(b[1]) == 4
    assert set(a[1]).isdisjoint(b[1])
    assert log.take(planner, 0.0, 450) is None
    assert planner.released(METRICS, a[1]) == 0
    again = log.take(planner, 0.0, 450)
    assert again is not None and again[1] == a[1] and again[2] == "retry"
    planner.acked(again[1])
    planner.acked(b[1])
    assert log.take(planner, 0.0, 450) is None
    assert all(s.unsettled_records == 0 for s in log.table)
    assert sum(len(t) for t in (a[1], b[1])) == len(refs)


def test_large_frames_go_alone_small_ones_are_merged() -> None:
    """A frame of a quarter of max_bytes or more is a batch by itself (sent as stored)."""
    log = FakeLog(segment_frames=100)
    small = [log.append(METRICS, 1, 100) for _ in range(3)]
    big = log.append(METRICS, 1, 300)
    after = [log.append(METRICS, 1, 100) for _ in range(2)]
    planner = _planner(log)
    batches = []
    while (taken := log.take(planner, 0.0, 1200)) is not None:
        batches.append(taken[1])
    assert batches == [tuple(small), (big,), tuple(after)]


def test_removed_segment_is_forgotten_and_in_flight_frames_become_orphans() -> None:
    """Evicting a segment drops its queued references; releasing an orphan reports it lost."""
    log = FakeLog(segment_frames=2)
    refs = [log.append(METRICS, 5, 100) for _ in range(4)]
    planner = _planner(log)
    taken = log.take(planner, 0.0, 100)
    assert taken is not None and taken[1] == (refs[0],)
    assert planner.in_flight_records(refs[0].seq) == 5
    log.table.remove(refs[0].seq)
    planner.segment_removed(refs[0].seq)
    assert planner.released(METRICS, taken[1]) == 5
    rest = []
    while (t := log.take(planner, 0.0, 1000)) is not None:
        rest.extend(t[1])
    assert rest == refs[2:]


@pytest.mark.parametrize("seed", range(25))
def test_random_interleavings_deliver_every_frame_exactly_once(seed: int) -> None:
    """Commits, picks, acks, releases and time passing in any order: each frame is acked once."""
    rng = random.Random(seed)
    log = FakeLog(segment_frames=rng.randint(1, 5))
    planner = _planner(
        log, fresh_window=rng.choice([0.5, 5.0, 100.0]), backfill_share=rng.choice([0.1, 0.5, 1.0])
    )
    streams = [METRICS, LOGS_BULK, ALERTS]
    committed = set()
    acked: list[object] = []
    in_flight: list[tuple[object, tuple[object, ...]]] = []
    now = 0.0
    for _ in range(300):
        op = rng.random()
        now += rng.random()
        if op < 0.4:
            stream = rng.choice(streams)
            ref = log.append(stream, 1, rng.randint(10, 300))
            planner.committed(stream, ref, now)
            committed.add(ref)
        elif op < 0.75:
            taken = log.take(planner, now, rng.randint(50, 600))
            if taken is not None:
                flying = {r for _, refs in in_flight for r in refs}
                assert flying.isdisjoint(taken[1])
                assert set(acked).isdisjoint(taken[1])
                in_flight.append((taken[0], taken[1]))
        elif in_flight:
            stream, refs = in_flight.pop(rng.randrange(len(in_flight)))
            if rng.random() < 0.7:
                planner.acked(refs)  # type: ignore[arg-type]
                acked.extend(refs)
            else:
                planner.released(stream, refs)  # type: ignore[arg-type]
    for _, refs in in_flight:
        planner.acked(refs)  # type: ignore[arg-type]
        acked.extend(refs)
    while (taken := log.take(planner, now, 10_000)) is not None:
        planner.acked(taken[1])
        acked.extend(taken[1])
    assert sorted(acked, key=lambda r: r.key) == sorted(committed, key=lambda r: r.key)  # type: ignore[attr-defined]
