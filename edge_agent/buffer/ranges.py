"""A set of half-open byte ranges, kept merged (sans-IO).

Each segment records which of its bytes are settled (acknowledged upstream,
or dropped as damaged) as a :class:`RangeSet`. Acknowledgements arrive out of
order (fresh data first, several batches in flight), but they are mostly
adjacent, so the set stays a handful of ranges however many frames a
segment holds: memory does not grow with the backlog.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class RangeSet:
    """Disjoint, sorted, merged ``[start, end)`` ranges."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"

    def add(self, start: int, end: int) -> None:
        """Add ``[start, end)``, merging with any range it touches or overlaps."""
        if end <= start:
            return
        lo = bisect.bisect_left(self._ends, start)  # first range that ends at or after start
        hi = bisect.bisect_right(self._starts, end)  # ranges from lo to hi-1 touch [start, end)
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def covers(self, start: int, end: int) -> bool:
        """True if every byte of ``[start, end)`` is in the set."""
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def run_end(self, offset: int) -> int:
        """The end of the range containing ``offset``, or ``offset`` itself when outside the set."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and self._ends[i] > offset:
            return self._ends[i]
        return offset

    def clip(self, limit: int) -> None:
        """Forget everything at or past ``limit`` (a file that turned out shorter)."""
        i = bisect.bisect_left(self._ends, limit)
        del self._starts[i + 1 :]
        del self._ends[i + 1 :]
        if i < len(self._starts):
            if self._starts[i] >= limit:
                del self._starts[i]
                del self._ends[i]
            else:
                self._ends[i] = limit

    def total(self) -> int:
        return sum(e - s for s, e in self)

    def as_list(self) -> list[list[int]]:
        return [[s, e] for s, e in self]
