"""Open batches waiting for the next group commit, and the memory bound on them (sans-IO).

Writers add fragments to the open batch of their (signal, priority). A
commit takes every open batch at once (one write and one fsync round for
all of them) when the oldest has waited ``commit_interval`` or any has
reached ``commit_bytes``. Memory counts open batches and batches being
committed, so a slow disk cannot make memory grow past ``max_bytes``.
Batches the disk budget could not take yet (``block`` policy) are put back
and count against memory until they are written.

Adding a fragment is on every writer's path (tens of thousands a second
under a receiver burst), so it only appends the fragment and counts its
bytes: every check it feeds (:meth:`OpenBatches.fits`,
:meth:`OpenBatches.is_full`) is a running total. Records, timestamps and the
split into frames are worked out once per commit in :meth:`OpenBatches.take`
with loops that run in C (``map``, ``sum``, ``bisect``).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from operator import attrgetter

from edge_agent.buffer.segments import StreamKey
from edge_agent.otlp.fragment import Fragment, Priority

_payload = attrgetter("payload")
_records = attrgetter("records")
_first = attrgetter("first_ns")
_last = attrgetter("last_ns")


@dataclass(eq=False)  # identity: two chunks with equal fields are still two chunks
class OpenBatch:
    """Fragments of one stream accepted since the last commit. Merged by concatenation.

    A commit writes an open batch as one frame, or as several (one per
    ``commit_bytes``, split at fragment boundaries) when it grew larger, so a
    frame is never much bigger than ``commit_bytes`` and compresses in
    parallel with its siblings. Chunks of one batch keep the batch's id.

    ``records``, ``first_ns`` and ``last_ns`` are filled in by
    :meth:`summarize` (``take`` does it for every chunk it returns); while a
    batch is open only ``fragments`` and ``raw_size`` are kept up to date.
    """

    id: int
    stream: StreamKey
    opened_at: float
    fragments: list[Fragment] = field(default_factory=list)
    raw_size: int = 0
    records: int = 0
    first_ns: int = 0
    last_ns: int = 0

    def summarize(self) -> None:
        """Records and the timestamp bounds of the fragments (0 = unknown timestamps are ignored)."""
        fragments = self.fragments
        self.records = sum(map(_records, fragments))
        firsts = list(map(_first, fragments))
        self.first_ns = min(filter(None, firsts), default=0)
        self.last_ns = max(max(map(_last, fragments), default=0), max(firsts, default=0))

    def open_records(self) -> int:
        return sum(map(_records, self.fragments))

    def payload(self) -> bytes:
        return b"".join(map(_payload, self.fragments))

    def split(self, limit: int) -> list[OpenBatch]:
        """Chunks of at most ``limit`` bytes (or one fragment), in order, sharing this id.

        Greedy, as if the fragments were added one by one: a fragment starts a new
        chunk when the current one holds bytes and the fragment would take it past
        ``limit``.
        """
        if self.raw_size <= limit:
            return [self]
        fragments = self.fragments
        ends = list(accumulate(map(len, map(_payload, fragments))))  # ends[k] = bytes of [0, k]
        chunks: list[OpenBatch] = []
        start, base, n = 0, 0, len(fragments)
        while start < n:
            stop = bisect_right(ends, base + limit, lo=start)  # fragments [start, stop) fit
            # a chunk that holds no bytes yet takes the next fragment, however large
            empty = bisect_right(ends, base, lo=start)
            stop = min(n, max(stop, empty + 1))
            chunk = OpenBatch(self.id, self.stream, self.opened_at, fragments[start:stop])
            chunk.raw_size = ends[stop - 1] - base
            chunks.append(chunk)
            base = ends[stop - 1]
            start = stop
        return chunks


class OpenBatches:
    def __init__(self, *, max_bytes: int, commit_bytes: int, commit_interval: float) -> None:
        self.max_bytes = max_bytes
        self.commit_bytes = commit_bytes
        self.commit_interval = commit_interval
        self._open: dict[StreamKey, OpenBatch] = {}
        self._next_id = 0
        self.open_bytes = 0  # sum of the open batches' raw_size
        self.committing_bytes = 0  # taken for a commit, not yet written (or put back)
        # and their records: still queued (a drain or a status must not see them vanish meanwhile)
        self._committing_records: dict[StreamKey, int] = {}
        self._full = False  # an open batch reached commit_bytes

    @property
    def memory_bytes(self) -> int:
        return self.open_bytes + self.committing_bytes

    def open_records(self) -> list[tuple[StreamKey, int]]:
        """Records per stream in memory: open, or taken by a commit that has not finished."""
        return [(k, b.open_records()) for k, b in self._open.items()] + list(self._committing_records.items())

    def is_empty(self) -> bool:
        return not self._open

    def fits(self, size: int) -> bool:
        """Whether ``size`` more bytes stay within the memory bound (one oversized fragment always fits
        into an otherwise empty buffer, or it could never be accepted)."""
        used = self.open_bytes + self.committing_bytes
        return used == 0 or used + size <= self.max_bytes

    def add(self, fragment: Fragment, now: float) -> int:
        """Add to the stream's open batch; returns the batch id (to wait for its commit)."""
        priority = fragment.priority
        stream = (fragment.signal, Priority.NORMAL if priority is None else priority)
        batch = self._open.get(stream)
        if batch is None:
            batch = self._open[stream] = OpenBatch(self._next_id, stream, now)
            self._next_id += 1
        size = len(fragment.payload)
        batch.fragments.append(fragment)
        batch.raw_size += size
        self.open_bytes += size
        if batch.raw_size >= self.commit_bytes:
            self._full = True
        return batch.id

    def due_at(self) -> float | None:
        """When the next commit is due (interval of the oldest batch), None when nothing is open."""
        if not self._open:
            return None
        return min(b.opened_at for b in self._open.values()) + self.commit_interval

    def is_full(self) -> bool:
        return self._full

    def take(self, limit: int | None = None) -> list[OpenBatch]:
        """Open batches, most important priority first, split into ``commit_bytes`` chunks.

        With ``limit``, stop once that many bytes are taken and leave the rest open:
        writers keep filling memory while the commit is written (double buffering),
        instead of waiting for a commit that took everything.
        """
        batches = sorted(self._open.values(), key=lambda b: (b.stream[1], b.id))
        self._open.clear()
        taken: list[OpenBatch] = []
        size = 0
        for i, batch in enumerate(batches):
            if limit is not None and taken and size >= limit:
                for rest in batches[i:]:  # untouched, one per stream
                    self._open[rest.stream] = rest
                break
            chunks = batch.split(self.commit_bytes)
            for j, chunk in enumerate(chunks):
                if limit is not None and taken and size >= limit:
                    rest = OpenBatch(batch.id, batch.stream, batch.opened_at)
                    for later in chunks[j:]:
                        rest.fragments += later.fragments
                        rest.raw_size += later.raw_size
                    self._open[batch.stream] = rest
                    break
                chunk.summarize()
                taken.append(chunk)
                size += chunk.raw_size
                committing = self._committing_records
                committing[chunk.stream] = committing.get(chunk.stream, 0) + chunk.records
        self.open_bytes -= size
        self.committing_bytes += size
        self._full = any(b.raw_size >= self.commit_bytes for b in self._open.values())
        return taken

    def _reopen(self, chunk: OpenBatch) -> None:
        newer = self._open.get(chunk.stream)
        if newer is not None:
            chunk.fragments += newer.fragments
            chunk.raw_size += newer.raw_size
            self.open_bytes -= newer.raw_size
        self._open[chunk.stream] = chunk
        self.open_bytes += chunk.raw_size
        if chunk.raw_size >= self.commit_bytes:
            self._full = True

    def open_ids(self) -> set[int]:
        return {b.id for b in self._open.values()}

    def done(self, batches: list[OpenBatch]) -> None:
        """The commit of ``batches`` finished (written or dropped): release their memory."""
        self.committing_bytes -= sum(b.raw_size for b in batches)
        committing = self._committing_records
        for b in batches:
            left = committing[b.stream] - b.records
            if left:
                committing[b.stream] = left
            else:
                del committing[b.stream]

    def put_back(self, batches: list[OpenBatch]) -> dict[int, int]:
        """Batches that could not be written: reopen them ahead of anything added since.

        Returns ``{absorbed id: surviving id}`` for batches merged into an older one,
        so their waiters can be moved.
        """
        self.done(batches)
        absorbed: dict[int, int] = {}
        for batch in reversed(batches):  # last chunk first: each older one goes in front
            newer = self._open.get(batch.stream)
            if newer is not None and newer.id != batch.id:
                absorbed[newer.id] = batch.id
            self._reopen(batch)
        return absorbed
