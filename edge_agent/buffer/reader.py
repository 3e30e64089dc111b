"""The disk buffer's read side: batches for the exporter, settled once each (trio shell).

The :class:`~edge_agent.buffer.replay.ReplayPlanner` decides what goes next;
this shell reads the frames in a worker thread, builds the request body
there too (merging frames means decompressing and compressing), and hands
the exporter a :class:`~edge_agent.buffer.api.Batch`. A frame committed a
moment ago comes from :class:`~edge_agent.buffer.hot.HotFrames` instead of
the disk, and a batch of one frame already in the wire encoding needs no
work at all: that common online case stays on the event loop. Several batches may be
in flight at once: picking is serialised by a lock, but a picked batch's
frames are marked in flight before the lock is released, so concurrent
callers never get the same frame.

Damage found while reading (a checksum that fails in a segment trusted at
start, an envelope that does not decode) is settled and counted, never
raised to the exporter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from edge_agent.buffer.api import Batch, Encoding
from edge_agent.buffer.droplog import DropRecorder
from edge_agent.buffer.frames import Envelope
from edge_agent.buffer.hot import HotFrames
from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.buffer.outgoing import BatchToken, assemble, decode_frame, decode_scanned
from edge_agent.buffer.replay import Pick, ReplayPlanner, ScanRequest
from edge_agent.buffer.scan import Damage
from edge_agent.buffer.segments import FrameRef, Segment, StreamKey
from edge_agent.buffer.store import SegmentStore
from edge_agent.buffer.table import SegmentTable

log = logging.getLogger("edge_agent.buffer")


class BatchReader:
    def __init__(
        self,
        store: SegmentStore,
        table: SegmentTable,
        planner: ReplayPlanner,
        instruments: BufferInstruments,
        drops: DropRecorder,
        *,
        wire: Encoding,
        level: int | None,
        frame_codec: Encoding,
        on_settled: Callable[[list[Settlement], list[Segment]], None],
        hot: HotFrames | None = None,
    ) -> None:
        self._hot = hot if hot is not None else HotFrames()
        self._store = store
        self._table = table
        self._planner = planner
        self._instruments = instruments
        self._drops = drops
        self._wire = wire
        self._level = level  # a configured level applies to the frames' codec only
        self._frame_codec = frame_codec
        self._on_settled = on_settled
        self._pick_lock = trio.Lock()
        self._data_ready = trio.Event()

    def use_wire_encoding(self, encoding: Encoding) -> None:
        self._wire = encoding

    def notify_data(self) -> None:
        """New frames were committed (or released): wake waiting readers."""
        self._data_ready.set()
        self._data_ready = trio.Event()

    async def next_batch(self, *, max_bytes: int) -> Batch:
        while True:
            ready = self._data_ready
            async with self._pick_lock:
                # shielded: frames are marked in flight inside; a pick is a short disk read
                with trio.CancelScope(shield=True):
                    batch = await self._pick(max_bytes)
            if batch is not None:
                try:
                    await trio.lowlevel.checkpoint_if_cancelled()
                except BaseException:
                    self.release(batch)  # cancelled before the caller got it: not in flight after all
                    raise
                return batch
            await ready.wait()

    async def _pick(self, max_bytes: int) -> Batch | None:
        while True:
            choice = self._planner.next_pick(trio.current_time(), max_bytes)
            if choice is None:
                return None
            if isinstance(choice, ScanRequest):
                batch = await self._from_scan(choice, max_bytes)
            else:
                batch = await self._from_refs(choice)
            if batch is not None:
                return batch

    async def _from_scan(self, request: ScanRequest, max_bytes: int) -> Batch | None:
        segment = self._table.get(request.seq)
        if segment is None:
            return None
        store, sealer, aad = self._store, self._store.sealer, segment.header.aad

        def read() -> tuple[list[FrameRef | Damage], dict[int, Envelope]]:
            events = store.scan(segment.name, request.offset, request.limit, max_bytes)
            return decode_scanned(request.seq, events, sealer, aad)

        items, envelopes = await trio.to_thread.run_sync(read)
        picked, damages = self._planner.take_scanned(request, items, max_bytes)
        self._count_damage(segment, damages)
        if not picked:
            return None
        return await self._assemble(request.stream, picked, [envelopes[r.offset] for r in picked])

    async def _from_refs(self, pick: Pick) -> Batch | None:
        segments = {ref.seq: self._table.get(ref.seq) for ref in pick.refs}
        gone = tuple(ref for ref in pick.refs if segments[ref.seq] is None)
        if gone:
            self._lost(pick.stream, gone)
        wanted = [(ref, seg) for ref in pick.refs if (seg := segments[ref.seq]) is not None]
        store, sealer = self._store, self._store.sealer

        def read() -> list[Envelope | Damage]:
            return [
                decode_frame(ref, store.read(seg.name, ref.offset, ref.length), sealer, seg.header.aad)
                for ref, seg in wanted
            ]

        decoded: list[Envelope | Damage] | None = None
        if len(wanted) == len(pick.refs):
            hot = self._hot.take(pick.refs)
            decoded = list(hot) if hot is not None else None
        if decoded is None:
            decoded = await trio.to_thread.run_sync(read)
        good: list[FrameRef] = []
        envelopes: list[Envelope] = []
        for (ref, seg), outcome in zip(wanted, decoded, strict=True):
            if isinstance(outcome, Damage):
                self._settle_damaged(seg, ref, outcome)
            else:
                good.append(ref)
                envelopes.append(outcome)
        if not good:
            return None
        return await self._assemble(pick.stream, good, envelopes)

    async def _assemble(
        self, stream: StreamKey, refs: list[FrameRef], envelopes: list[Envelope]
    ) -> Batch | None:
        wire = self._wire
        level = self._level if wire == self._frame_codec else None
        if len(envelopes) == 1 and envelopes[0].codec == wire:  # sent as stored: nothing to compute
            batch, bad = assemble(stream, refs, envelopes, wire, level)
        else:
            batch, bad = await trio.to_thread.run_sync(lambda: assemble(stream, refs, envelopes, wire, level))
        for ref in bad:
            segment = self._table.get(ref.seq)
            if segment is not None:
                self._settle_damaged(
                    segment, ref, Damage(ref.offset, ref.length, "envelope", stream[0], ref.records)
                )
        return batch

    # -- damage and loss ---------------------------------------------------

    def _settle_damaged(self, segment: Segment, ref: FrameRef, damage: Damage) -> None:
        self._planner.acked((ref,))  # settled for good: it will never decode
        self._count_damage(segment, [damage])

    def _count_damage(self, segment: Segment, damages: list[Damage]) -> None:
        for damage in damages:
            self._instruments.corrupt_bytes.inc(damage.length)
            detail = f"{damage.length} damaged bytes ({damage.reason}) at {segment.name}:{damage.offset}"
            self._drops.record(segment.header.signal, "corrupt", damage.records, detail)
            if not damage.records:
                log.warning("buffer skipped %s", detail)
        if damages:
            settled = [(segment.seq, d.offset, d.end, d.records) for d in damages]
            self._on_settled(settled, [s for s in (segment,) if s.is_done()])

    def _lost(self, stream: StreamKey, refs: tuple[FrameRef, ...]) -> None:
        lost = self._planner.released(stream, refs)
        self._drops.record(stream[0], "disk_budget", lost, "evicted while being sent")

    # -- settling ----------------------------------------------------------

    def ack(self, batch: Batch) -> None:
        token = _token(batch)
        self._on_settled(_settlements(token.refs), self._planner.acked(token.refs))

    def drop(self, batch: Batch, reason: str) -> None:
        token = _token(batch)
        self._drops.record(batch.signal, reason, batch.records, "refused upstream")
        self._on_settled(_settlements(token.refs), self._planner.acked(token.refs))

    def release(self, batch: Batch) -> None:
        token = _token(batch)
        self._lost(token.stream, token.refs)
        self._on_settled([], [])
        self.notify_data()


Settlement = tuple[int, int, int, int]  # segment seq, start, end, records


def _settlements(refs: tuple[FrameRef, ...]) -> list[Settlement]:
    return [(r.seq, r.offset, r.end, r.records) for r in refs]


def _token(batch: Batch) -> BatchToken:
    if not isinstance(batch.token, BatchToken):
        raise TypeError("this batch was not produced by this disk buffer")
    return batch.token
