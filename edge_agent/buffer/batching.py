"""Open batches waiting for the next group commit, and the memory bound on them (sans-IO).

Writers add fragments to the open batch of their (signal, priority). A
commit takes every open batch at once (one write and one fsync round for
all of them) when the oldest has waited ``commit_interval`` or any has
reached ``commit_bytes``. Memory counts open batches and batches being
committed, so a slow disk cannot make memory grow past ``max_bytes``.
Batches the disk budget could not take yet (``block`` policy) are put back
and count against memory until they are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.buffer.segments import StreamKey
from edge_agent.otlp.fragment import Fragment, Priority


@dataclass
class OpenBatch:
    """Fragments of one stream accepted since the last commit. Merged by concatenation.

    A commit writes an open batch as one frame, or as several (one per
    ``commit_bytes``, split at fragment boundaries) when it grew larger, so a
    frame is never much bigger than ``commit_bytes`` and compresses in
    parallel with its siblings. Chunks of one batch keep the batch's id.
    """

    id: int
    stream: StreamKey
    opened_at: float
    fragments: list[Fragment] = field(default_factory=list)
    raw_size: int = 0
    records: int = 0
    first_ns: int = 0
    last_ns: int = 0

    def add(self, fragment: Fragment) -> None:
        self.fragments.append(fragment)
        self.raw_size += len(fragment.payload)
        self.records += fragment.records
        if fragment.first_ns and (not self.first_ns or fragment.first_ns < self.first_ns):
            self.first_ns = fragment.first_ns
        self.last_ns = max(self.last_ns, fragment.last_ns, fragment.first_ns)

    def payload(self) -> bytes:
        return b"".join(f.payload for f in self.fragments)

    def split(self, limit: int) -> list[OpenBatch]:
        """Chunks of at most ``limit`` bytes (or one fragment), in order, sharing this id."""
        if self.raw_size <= limit:
            return [self]
        chunks: list[OpenBatch] = []
        for fragment in self.fragments:
            if not chunks or (chunks[-1].raw_size and chunks[-1].raw_size + len(fragment.payload) > limit):
                chunks.append(OpenBatch(self.id, self.stream, self.opened_at))
            chunks[-1].add(fragment)
        return chunks


class OpenBatches:
    def __init__(self, *, max_bytes: int, commit_bytes: int, commit_interval: float) -> None:
        self.max_bytes = max_bytes
        self.commit_bytes = commit_bytes
        self.commit_interval = commit_interval
        self._open: dict[StreamKey, OpenBatch] = {}
        self._next_id = 0
        self.committing_bytes = 0  # taken for a commit, not yet written (or put back)

    @property
    def open_bytes(self) -> int:
        return sum(b.raw_size for b in self._open.values())

    @property
    def memory_bytes(self) -> int:
        return self.open_bytes + self.committing_bytes

    def open_records(self) -> list[tuple[StreamKey, int]]:
        return [(k, b.records) for k, b in self._open.items()]

    def fits(self, size: int) -> bool:
        """Whether ``size`` more bytes stay within the memory bound (one oversized fragment always fits
        into an otherwise empty buffer, or it could never be accepted)."""
        used = self.memory_bytes
        return used == 0 or used + size <= self.max_bytes

    def add(self, fragment: Fragment, now: float) -> int:
        """Add to the stream's open batch; returns the batch id (to wait for its commit)."""
        priority = fragment.priority if fragment.priority is not None else Priority.NORMAL
        stream = (fragment.signal, priority)
        batch = self._open.get(stream)
        if batch is None:
            batch = self._open[stream] = OpenBatch(self._next_id, stream, now)
            self._next_id += 1
        batch.add(fragment)
        return batch.id

    def due_at(self) -> float | None:
        """When the next commit is due (interval of the oldest batch), None when nothing is open."""
        if not self._open:
            return None
        return min(b.opened_at for b in self._open.values()) + self.commit_interval

    def is_full(self) -> bool:
        return any(b.raw_size >= self.commit_bytes for b in self._open.values())

    def take(self, limit: int | None = None) -> list[OpenBatch]:
        """Open batches, most important priority first, split into ``commit_bytes`` chunks.

        With ``limit``, stop once that many bytes are taken and leave the rest open:
        writers keep filling memory while the commit is written (double buffering),
        instead of waiting for a commit that took everything.
        """
        batches = sorted(self._open.values(), key=lambda b: (b.stream[1], b.id))
        self._open.clear()
        chunks = [chunk for batch in batches for chunk in batch.split(self.commit_bytes)]
        taken: list[OpenBatch] = []
        size = 0
        for i, chunk in enumerate(chunks):
            if limit is not None and taken and size >= limit:
                for rest in reversed(chunks[i:]):  # back in order, ahead of nothing
                    self._reopen(rest)
                break
            taken.append(chunk)
            size += chunk.raw_size
        self.committing_bytes += size
        return taken

    def _reopen(self, chunk: OpenBatch) -> None:
        newer = self._open.get(chunk.stream)
        if newer is not None:
            for fragment in newer.fragments:
                chunk.add(fragment)
        self._open[chunk.stream] = chunk

    def open_ids(self) -> set[int]:
        return {b.id for b in self._open.values()}

    def done(self, batches: list[OpenBatch]) -> None:
        """The commit of ``batches`` finished (written or dropped): release their memory."""
        self.committing_bytes -= sum(b.raw_size for b in batches)

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
