"""Envelopes of frames just committed, so the exporter sends them without reading them back.

Online, every frame is read once, right after its commit. Reading it back
from the segment costs a worker-thread round trip (a read, a checksum, an
envelope decode) for bytes the committer had in memory a moment before; on
an idle device at a 10 s interval that round trip is a noticeable share of
the agent's CPU. The committer therefore hands each written frame's
envelope here, and the reader takes it instead of the disk copy. Entries are
what was written, not a second source of truth: a frame evicted from here,
released after a failed delivery, or left over from before a restart is read
from its segment as usual. Memory is bounded by :data:`HOT_BYTES` of
compressed payload (oldest out first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from edge_agent.buffer.frames import Envelope
from edge_agent.buffer.segments import FrameRef

HOT_BYTES = 256 * 1024


class HotFrames:
    def __init__(self, max_bytes: int = HOT_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._frames: OrderedDict[tuple[int, int], tuple[FrameRef, Envelope]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def remember(self, ref: FrameRef, envelope: Envelope) -> None:
        size = len(envelope.payload)
        if size > self.max_bytes:
            return
        self._frames[ref.key] = (ref, envelope)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, old) = self._frames.popitem(last=False)
            self.bytes -= len(old.payload)

    def take(self, refs: Sequence[FrameRef]) -> list[Envelope] | None:
        """The envelopes of all ``refs`` (removed from here), or None if any is missing."""
        entries = [self._frames.get(ref.key) for ref in refs]
        if any(e is None or e[0] != ref for e, ref in zip(entries, refs, strict=True)):
            return None
        out = []
        for ref in refs:
            _, envelope = self._frames.pop(ref.key)
            self.bytes -= len(envelope.payload)
            out.append(envelope)
        return out

    def forget(self, seq: int) -> None:
        """Segment ``seq`` is gone (deleted or evicted): its frames must not be served from here."""
        for key in [k for k in self._frames if k[0] == seq]:
            _, envelope = self._frames.pop(key)
            self.bytes -= len(envelope.payload)
