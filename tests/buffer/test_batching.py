"""Open batches: per stream, bounded in memory, due by time or size, put back in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.buffer.batching import OpenBatches
from edge_agent.otlp.fragment import Fragment, Priority, Signal


def _frag(n: int, signal: Signal = Signal.LOGS, priority: Priority = Priority.NORMAL, t: int = 0) -> Fragment:
    return Fragment(signal, b"x" * n, 1, t, t, priority)


def test_fragments_group_per_stream_and_commit_most_important_first() -> None:
    """One open batch per (signal, priority); take() returns critical before bulk."""
    ob = OpenBatches(max_bytes=10_000, commit_bytes=1000, commit_interval=1.0)
    a = ob.add(_frag(10, priority=Priority.BULK), 0.0)
    b = ob.add(_frag(10, priority=Priority.CRITICAL), 0.5)
    assert ob.add(_frag(10, priority=Priority.BULK), 0.7) == a
    assert ob.due_at() == 1.0
    batches = ob.take()
    assert [x.id for x in batches] == [b, a]
    assert [x.records for x in batches] == [1, 2]
    assert ob.due_at() is None and ob.memory_bytes == 30
    ob.done(batches)
    assert ob.memory_bytes == 0


def test_memory_bound_refuses_but_always_fits_one() -> None:
    """fits() holds memory under max_bytes, except for a single oversized fragment into an empty buffer."""
    ob = OpenBatches(max_bytes=100, commit_bytes=1000, commit_interval=1.0)
    assert ob.fits(500)
    ob.add(_frag(60), 0.0)
    assert ob.fits(40) and not ob.fits(41)
    ob.take()
    assert not ob.fits(41), "bytes being committed still count"


def test_size_makes_a_batch_due_early() -> None:
    """is_full() once a stream reaches commit_bytes."""
    ob = OpenBatches(max_bytes=10_000, commit_bytes=100, commit_interval=1.0)
    ob.add(_frag(99), 0.0)
    assert not ob.is_full()
    ob.add(_frag(1), 0.0)
    assert ob.is_full()


def test_put_back_keeps_older_data_first_and_reports_merged_ids() -> None:
    """A batch that could not be written goes back ahead of newer data of its stream."""
    ob = OpenBatches(max_bytes=10_000, commit_bytes=1000, commit_interval=1.0)
    first = ob.add(Fragment(Signal.LOGS, b"old", 1, 5, 5, Priority.NORMAL), 0.0)
    taken = ob.take()
    newer = ob.add(Fragment(Signal.LOGS, b"new", 2, 3, 9, Priority.NORMAL), 2.0)
    assert ob.put_back(taken) == {newer: first}
    (batch,) = ob.take()
    assert (batch.id, batch.payload(), batch.records, batch.first_ns, batch.last_ns) == (
        first,
        b"oldnew",
        3,
        3,
        9,
    )
    assert batch.opened_at == 0.0


def test_a_large_batch_is_committed_as_frames_of_commit_bytes() -> None:
    """take() splits at fragment boundaries so no frame is much larger than commit_bytes."""
    ob = OpenBatches(max_bytes=10_000_000, commit_bytes=1000, commit_interval=1.0)
    for i in range(25):
        ob.add(Fragment(Signal.LOGS, bytes([i]) * 300, 1, i + 1, i + 1, Priority.NORMAL), 0.0)
    chunks = ob.take()
    assert [c.raw_size for c in chunks] == [900] * 8 + [300]
    assert len({c.id for c in chunks}) == 1
    assert b"".join(c.payload() for c in chunks) == b"".join(bytes([i]) * 300 for i in range(25))
    assert [(c.first_ns, c.last_ns) for c in chunks[:2]] == [(1, 3), (4, 6)]
    assert ob.memory_bytes == 7500


def _greedy_split(sizes: list[int], limit: int) -> list[list[int]]:
    """The split rule stated plainly: a fragment starts a new chunk when the current one holds
    bytes and the fragment would take it past the limit."""
    chunks: list[list[int]] = []
    for size in sizes:
        if not chunks or (sum(chunks[-1]) and sum(chunks[-1]) + size > limit):
            chunks.append([])
        chunks[-1].append(size)
    return chunks


@given(
    st.lists(st.integers(min_value=0, max_value=3000), max_size=60), st.integers(min_value=1, max_value=2000)
)
def test_split_matches_the_greedy_rule(sizes: list[int], limit: int) -> None:
    """take() splits like adding fragments one by one would (also with empty and oversized fragments),
    and every chunk's records and time bounds are those of its fragments."""
    ob = OpenBatches(max_bytes=10**9, commit_bytes=limit, commit_interval=1.0)
    for i, size in enumerate(sizes):
        ob.add(
            Fragment(Signal.LOGS, bytes(size), i % 3, i % 5 and 100 + i, i % 5 and 200 + i, Priority.NORMAL),
            0.0,
        )
    chunks = ob.take()
    expected = _greedy_split(sizes, limit) if sizes else []
    assert [[len(f.payload) for f in c.fragments] for c in chunks] == expected
    assert [c.raw_size for c in chunks] == [sum(c) for c in expected]
    for chunk in chunks:
        firsts = [f.first_ns for f in chunk.fragments if f.first_ns]
        assert chunk.records == sum(f.records for f in chunk.fragments)
        assert chunk.first_ns == min(firsts, default=0)
        assert chunk.last_ns == max(
            [f.last_ns for f in chunk.fragments] + [f.first_ns for f in chunk.fragments]
        )
    assert ob.memory_bytes == sum(sizes)
