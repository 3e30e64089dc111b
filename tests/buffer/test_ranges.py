"""RangeSet behaves like the set of bytes it stands for, and stays merged."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.buffer.ranges import RangeSet

spans = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])), max_size=30
)


def _bytes_of(ranges: list[tuple[int, int]]) -> set[int]:
    return {b for s, e in ranges for b in range(s, e)}


@given(spans)
def test_matches_a_set_of_bytes_and_stays_merged(added: list[tuple[int, int]]) -> None:
    """Adding ranges in any order covers exactly their bytes, with no two ranges touching."""
    rs = RangeSet(added)
    assert _bytes_of(list(rs)) == _bytes_of(added)
    pairs = list(rs)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(pairs))
    assert rs.total() == len(_bytes_of(added))


@given(spans, st.integers(0, 240), st.integers(0, 30))
def test_covers_and_run_end_agree_with_the_bytes(added: list[tuple[int, int]], start: int, n: int) -> None:
    """covers() is true exactly when every byte is in the set; run_end() finds the end of a run."""
    rs = RangeSet(added)
    inside = _bytes_of(added)
    assert (
        rs.covers(start, start + n) == (n > 0 and all(b in inside for b in range(start, start + n))) or n == 0
    )
    end = rs.run_end(start)
    assert all(b in inside for b in range(start, end))
    assert end not in inside


@given(spans, st.integers(0, 240))
def test_clip_forgets_everything_past_the_limit(added: list[tuple[int, int]], limit: int) -> None:
    """clip() keeps exactly the bytes below the limit."""
    rs = RangeSet(added)
    rs.clip(limit)
    assert _bytes_of(list(rs)) == {b for b in _bytes_of(added) if b < limit}
