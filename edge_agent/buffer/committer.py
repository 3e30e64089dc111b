"""The disk buffer's committer: group commits, budget evictions and housekeeping (trio shell).

Theory of operation. The committer task wakes when a commit is due (the
oldest open batch waited ``commit_interval``, or one reached
``commit_bytes``), compresses every open batch once in a worker thread,
plans where each frame goes and what the budget evicts
(:mod:`~edge_agent.buffer.commit`), and has the store delete, write and
fsync in one worker-thread call. Only then is the bookkeeping updated and
are the durable writers released. The same task does the housekeeping:
deleting fully settled segments (after saving a state that says so),
periodic fsync (``fsync = "interval"``), saving the cursor state at most
every ``state_interval`` when segments were created, sealed or deleted,
logging acknowledgements a quarter second after they happen (see
cursor.py), self-metrics.

Commits are shielded from cancellation: a frame is either written and
accounted, or still in memory, never half of each. One lock orders every
disk operation, since each of them changes the segment table.

When writers fill ``commit_bytes`` faster than the interval, two commits
may be under way at once: the next one compresses while the previous one
writes and fsyncs (the disk wait then costs no CPU time twice). They are
written strictly in the order they were taken. If a commit cannot write
everything (disk full under ``block``, an I/O error), the data
it puts back goes ahead of the open batches, and a later commit already
taken goes back with it, behind it: nothing overtakes older data of its
stream, and a durable writer is released only once every chunk of its batch
is written.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from edge_agent.buffer import codecs
from edge_agent.buffer.api import Encoding
from edge_agent.buffer.batching import OpenBatch, OpenBatches
from edge_agent.buffer.commit import CommitPlan, CommitResult, Prepared, apply_commit, plan_commit
from edge_agent.buffer.config import BufferConfig
from edge_agent.buffer.crypto import OVERHEAD
from edge_agent.buffer.cursor import Ack, encode_acks, encode_state
from edge_agent.buffer.droplog import DropRecorder
from edge_agent.buffer.frames import FRAME_HEADER_SIZE, Envelope, envelope_head
from edge_agent.buffer.hot import HotFrames
from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.buffer.replay import ReplayPlanner
from edge_agent.buffer.segments import Segment, SegmentHeader, StreamKey
from edge_agent.buffer.store import SegmentStore
from edge_agent.buffer.table import ALL_STREAMS, SegmentTable
from edge_agent.otlp.fragment import Fragment

log = logging.getLogger("edge_agent.buffer")

# A commit this small (one scrape of host metrics is ~6 KB) is compressed on the event loop: at
# gzip level 1 that takes well under a millisecond, less than the thread round trip it saves.
INLINE_PREPARE_BYTES = 32 * 1024
# Acknowledgements reach the (unsynced) ack log with the next commit, which on a device scraping
# every 10 s is one worker-thread call that happens anyway; without commits, after ACK_MAX_DELAY,
# or ACK_INTERVAL after ACK_MAX_PENDING have gathered (draining a backlog). A crash resends what
# was acknowledged but not yet logged: duplicates, never loss.
ACK_INTERVAL = 0.25
ACK_MAX_DELAY = 30.0
ACK_MAX_PENDING = 16
ACK_LOG_MAX = 64 * 1024  # past this the log is folded into a state write
# commits under way at once: one compressing while the previous one writes and fsyncs; more
# would only add threads competing for the same cores (docs/performance.md, "Disk buffer")
_MAX_FLIGHTS = 2


@dataclass
class Waiter:
    """A durable writer waiting for the commit of its batch."""

    event: trio.Event = field(default_factory=trio.Event)
    outcome: str = "pending"  # committed | refused | failed


@dataclass(eq=False)
class _Flight:
    """One group commit under way: compressing, waiting for the previous one, or writing."""

    number: int
    batches: list[OpenBatch]
    previous: _Flight | None  # written before this one
    preparing: bool = True
    abandoned: bool = False  # an earlier commit put data back: these batches went back behind it
    done: trio.Event = field(default_factory=trio.Event)


@dataclass
class Shared:
    """The bookkeeping the committer and the reader both work on."""

    config: BufferConfig
    directory: Path
    table: SegmentTable
    planner: ReplayPlanner
    open: OpenBatches
    store: SegmentStore
    instruments: BufferInstruments
    drops: DropRecorder
    wall_ns: Callable[[], int]
    hot: HotFrames = field(default_factory=HotFrames)


class Committer:
    def __init__(self, shared: Shared, *, notify_data: Callable[[], None]) -> None:
        self.s = shared
        self.config = shared.config
        self._notify_data = notify_data
        self._codec: Encoding = "identity" if self.config.compression == "none" else self.config.compression
        self._level = self.config.compression_level or codecs.FRAME_LEVEL[self._codec]
        self._waiters: dict[int, list[Waiter]] = {}
        self._cpus = max(1, os.cpu_count() or 1)
        self.enabled = False  # set once recovery has filled the table
        self._io_lock = trio.Lock()
        self._last_io_error = float("-inf")
        self._wake = trio.Event()
        self._wait_scope: trio.CancelScope | None = None  # the run loop's wait, while it waits
        self._space = trio.Event()
        self.progress = trio.Event()
        self.next_seq = 0
        self.blocked_until: float | None = None  # block policy: the disk is full until space frees
        self._durable_due: float | None = None  # a durable writer is waiting: commit by then
        self._state_dirty = False
        self._acks: list[Ack] = []  # settled since the last state or ack-log write
        self._acks_since = 0.0  # when the oldest of them was settled
        self._ack_log_bytes = 0
        self._state_size = 0
        self._last_state_write = float("-inf")
        self._last_fsync = float("-inf")
        self._watch_gauges()
        self._flights: dict[int, _Flight] = {}  # commits under way, by number (taken in that order)
        self._next_flight = 0
        self._last_flight: _Flight | None = None
        self._house_deferred: float | None = None  # housekeeping waits for a commit's write since

    # -- writers -----------------------------------------------------------

    def admits(self, size: int) -> bool:
        return self.blocked_until is None and self.s.open.fits(size)

    async def wait_for_space(self) -> None:
        await self._space.wait()

    def add(self, fragment: Fragment) -> int:
        """Add to the open batches (the caller checked :meth:`admits`); returns the batch id."""
        batches = self.s.open
        was_empty = batches.is_empty()
        now = trio.current_time()
        batch_id = batches.add(fragment, now)
        if batches.is_full():
            self._wake.set()
        elif was_empty:
            self._due_by(now + self.config.commit_interval)
        return batch_id

    def _due_by(self, deadline: float) -> None:
        """Make the run loop act by ``deadline``. While it waits, moving its deadline is enough;
        waking it to recompute costs a task switch per scrape and per acknowledgement."""
        scope = self._wait_scope
        if scope is None:
            self._wake.set()
        elif deadline < scope.deadline:
            scope.deadline = deadline

    def waiter(self, batch_id: int) -> Waiter:
        """Register a durable writer: its commit comes within ``durable_delay``, not ``commit_interval``."""
        waiter = Waiter()
        self._waiters.setdefault(batch_id, []).append(waiter)
        if self._durable_due is None:
            delay = min(self.config.durable_delay, self.config.commit_interval)
            self._durable_due = trio.current_time() + delay
            self._wake.set()
        return waiter

    def full_reason(self, size: int) -> str:
        if self.blocked_until is not None:
            return f"the disk buffer is full ({self.config.max_disk_bytes} bytes, when_full = 'block')"
        if not self.s.open.fits(size):
            return f"{self.s.open.memory_bytes} bytes are waiting for the disk (buffer.max_memory_bytes)"
        return f"the data was not committed within buffer.block_timeout ({self.config.block_timeout:g}s)"

    def retry_after(self) -> float:
        return max(1.0, self.config.commit_interval) * (5 if self.blocked_until is not None else 1)

    # -- committing --------------------------------------------------------

    async def run(self) -> None:
        """Commit and keep house until cancelled.

        A commit due by size (writers filled ``commit_bytes``) is started as its own task,
        so the next one can compress while it is still writing; at most ``_MAX_FLIGHTS``
        are under way, and only one of them compresses at a time.
        """
        async with trio.open_nursery() as nursery:
            while True:
                wake = self._wake = trio.Event()
                with trio.move_on_at(self._next_deadline()) as self._wait_scope:
                    await wake.wait()
                self._wait_scope = None
                now = trio.current_time()
                if self._commit_due(now) and self._can_start():
                    if self.s.open.is_full():
                        # writers outrun the interval: let the next commit compress meanwhile
                        nursery.start_soon(self._finish, self._begin(force=False))
                    else:
                        # one commit per interval: nothing to overlap, and committing inline keeps
                        # the order of events (and simulations on a virtual clock) reproducible
                        await self._finish(self._begin(force=False))
                if self._io_lock.locked() and self._flights:
                    # a commit is writing: waiting for it here would keep the next commit from
                    # starting to compress; its end wakes us (after ACK_INTERVAL, wait anyway)
                    if self._house_deferred is None:
                        self._house_deferred = now
                    if now - self._house_deferred < ACK_INTERVAL:
                        continue
                self._house_deferred = None
                await self.housekeeping(now)

    def _can_start(self) -> bool:
        return len(self._flights) < _MAX_FLIGHTS and not any(f.preparing for f in self._flights.values())

    def _next_deadline(self) -> float:
        deadlines = [float("inf")]
        due = self._due()
        if due is not None and self._can_start():  # else a commit leaving compression wakes us
            deadlines.append(max(due, self.blocked_until or due))
        if self._house_deferred is not None:  # until the writing commit ends (it wakes us)
            return min(*deadlines, self._house_deferred + ACK_INTERVAL)
        if self._state_dirty:
            deadlines.append(self._last_state_write + self.config.state_interval)
        if self._acks:
            deadlines.append(self._ack_deadline())
        if self.config.fsync == "interval" and self.s.store.has_unsynced():
            deadlines.append(self._last_fsync + self.config.fsync_interval)
        if self.s.table.done():
            deadlines.append(trio.current_time())
        return min(deadlines)

    def _due(self) -> float | None:
        due = self.s.open.due_at()
        if due is not None and self._durable_due is not None:
            return min(due, self._durable_due)
        return due

    def _commit_due(self, now: float) -> bool:
        due = self._due()
        if due is None:
            return False
        if self.blocked_until is not None and now < self.blocked_until:
            return False
        return self.s.open.is_full() or now >= due

    async def commit(self, *, force: bool = False) -> None:
        """Write the open batches as one group commit, after every commit started before it
        (shielded: it completes once started). ``force`` takes everything, and retries
        data held back by the ``block`` policy at once."""
        if not self.enabled:
            return
        with trio.CancelScope(shield=True):
            await self._finish(self._begin(force=force))

    def _begin(self, *, force: bool) -> _Flight:
        """Take the open batches for a commit (synchronously, so the run loop never takes twice)."""
        if force:
            self.blocked_until = None
        # half the memory bound per commit, so writers can fill the other half while one is written
        limit = None if force else max(self.config.commit_bytes, self.config.max_memory_bytes // 2)
        batches = self.s.open.take(limit)
        if self._durable_due is not None and not (self._waiters.keys() & self.s.open.open_ids()):
            self._durable_due = None  # every durable writer's data is on its way
        flight = _Flight(self._next_flight, batches, self._last_flight)
        self._next_flight += 1
        self._flights[flight.number] = flight
        self._last_flight = flight
        return flight

    async def _finish(self, flight: _Flight) -> None:
        """Compress a flight's batches (overlapping the previous flight's write), then plan, write
        and account it once every earlier flight is done, in the order they were taken."""
        with trio.CancelScope(shield=True):
            try:
                prepared = await self._prepare_all(flight.batches) if flight.batches else []
                flight.preparing = False
                self._wake.set()  # the run loop may start compressing the next commit
                if flight.previous is not None:
                    await flight.previous.done.wait()
                    flight.previous = None
                if flight.batches and not flight.abandoned:
                    async with self._io_lock:
                        await self._write(flight, prepared)
            finally:
                flight.preparing = False
                del self._flights[flight.number]
                if self._last_flight is flight:
                    self._last_flight = None
                flight.done.set()
                self._wake.set()

    async def _write(self, flight: _Flight, prepared: list[Prepared]) -> None:
        plan = plan_commit(
            self.s.table,
            prepared,
            segment_bytes=self.config.effective_segment_bytes,
            limit=self._disk_limit(),
            policy=self.config.when_full,
            next_seq=self.next_seq,
            new_header=self._new_header,
        )
        fsync = self.config.fsync == "always"
        state = self._state_without(plan.victims) if plan.victims else None
        since = self._acks_since
        acks = self._take_acks() if state is None else []
        logged = encode_acks(acks) if acks else None
        result = await trio.to_thread.run_sync(
            lambda: self.s.store.execute(plan, fsync=fsync, state=state, acks=logged)
        )
        if logged is not None:
            if result.acks_logged:
                self._acks_logged(len(logged))
            else:
                self._acks, self._acks_since = acks + self._acks, since
        self._apply(plan, result, flight)

    async def _prepare_all(self, chunks: list[OpenBatch]) -> list[Prepared]:
        """Compress the chunks in parallel worker threads (zlib and zstd release the GIL)."""
        if sum(chunk.raw_size for chunk in chunks) <= INLINE_PREPARE_BYTES:
            return self._prepare(chunks)
        workers = min(len(chunks), self._cpus)
        groups: list[list[int]] = [[] for _ in range(workers)]
        loads = [0] * workers
        for i in sorted(range(len(chunks)), key=lambda i: -chunks[i].raw_size):
            lightest = loads.index(min(loads))
            groups[lightest].append(i)
            loads[lightest] += chunks[i].raw_size
        results: list[Prepared | None] = [None] * len(chunks)

        async def work(group: list[int]) -> None:
            for i, item in zip(
                group, await trio.to_thread.run_sync(self._prepare, [chunks[i] for i in group]), strict=True
            ):
                results[i] = item

        async with trio.open_nursery() as nursery:
            for group in groups:
                nursery.start_soon(work, group)
        return [r for r in results if r is not None]

    def _prepare(self, batches: list[OpenBatch]) -> list[Prepared]:
        """Compress each chunk once, encode its envelope and checksum it (worker thread; zlib
        and zstd release the GIL while they work, so writers keep appending meanwhile)."""
        overhead = FRAME_HEADER_SIZE + (OVERHEAD if self.s.store.sealer is not None else 0)
        codec = self._codec
        out = []
        for batch in batches:
            payload = batch.payload()
            data = codecs.compress(codec, payload, self._level)
            signal, priority = batch.stream
            head = envelope_head(
                signal, priority, batch.records, batch.first_ns, batch.last_ns, codec, len(payload), len(data)
            )
            crc = zlib.crc32(data, zlib.crc32(head))
            envelope = Envelope(
                signal, priority, batch.records, batch.first_ns, batch.last_ns, codec, len(payload), data
            )
            out.append(Prepared(batch, head, overhead + len(head) + len(data), crc, envelope))
        return out

    def _new_header(self, seq: int, stream: StreamKey) -> SegmentHeader:
        sealer = self.s.store.sealer
        return SegmentHeader(
            seq,
            stream[0],
            stream[1],
            uid=int.from_bytes(os.urandom(8), "big"),
            created_ns=self.s.wall_ns(),
            encrypted=sealer is not None,
            key_id=sealer.key_id if sealer is not None else b"\0\0\0\0",
        )

    def _state_without(self, victims: list[int]) -> bytes:
        """State to save before evicting ``victims``: a crash after the deletion then finds no
        "vanished" segments (their loss was counted here); a crash before it resends them."""
        return encode_state([s for s in self.s.table if s.seq not in victims], self.next_seq)

    def _disk_limit(self) -> int:
        # room for the state file, its temporary copy while it is replaced, and the ack log
        return self.config.max_disk_bytes - 2 * self._state_size - ACK_LOG_MAX - 8192

    def _apply(self, plan: CommitPlan, result: CommitResult, flight: _Flight) -> None:
        batches = flight.batches
        now = trio.current_time()
        for seq in result.deleted:
            self._evict(seq)
        appended = plan.appends[: result.appended]
        for (stream, ref), append in zip(apply_commit(self.s.table, plan, result), appended, strict=True):
            self.s.planner.committed(stream, ref, now)
            if append.prepared.envelope is not None:
                self.s.hot.remember(ref, append.prepared.envelope)
        self.next_seq = plan.next_seq
        self.s.instruments.commits.inc()
        self.s.instruments.written.inc(result.written_bytes)
        if self.config.fsync == "always" and result.error is None:
            self.s.instruments.fsync_latency.observe(result.fsync_seconds)
        written = [a.prepared.batch for a in plan.appends[: result.appended]]
        unwritten = [a.prepared.batch for a in plan.appends[result.appended :]]
        retry = sorted(unwritten + [p.batch for p in plan.deferred], key=batches.index)
        if retry:
            # commits taken after this one must not overtake the data put back: they go back
            # too, behind it (their compression is wasted; this only happens when the disk
            # is full or failing)
            for later in sorted(self._flights.values(), key=lambda f: f.number):
                if later.number > flight.number and not later.abandoned:
                    later.abandoned = True
                    retry += later.batches
        refused = [p.batch for p in plan.refused]
        for batch in refused:
            self.s.drops.record(batch.stream[0], "disk_budget", batch.records, "no room for new data")
        # under fsync = always a failed commit was not fsynced: its writers must not be told "safe"
        safe = result.error is None or self.config.fsync != "always"
        self._resolve(flight, written, refused, retry, "committed" if safe else "failed")
        self.s.open.done([b for b in batches if b not in retry])
        for absorbed, into in self.s.open.put_back(retry).items():
            self._merge_waiters(absorbed, into)
        if plan.deferred:
            self.blocked_until = now + self.config.commit_interval
        elif not unwritten:
            self.blocked_until = None
        if result.error is not None:
            self._write_failed(result.error, len(retry))
        self._state_dirty = self._state_dirty or bool(plan.seals or plan.victims or plan.creates)
        self._notify_space()
        if written:
            self._notify_data()

    def _resolve(
        self,
        flight: _Flight,
        written: list[OpenBatch],
        refused: list[OpenBatch],
        retry: list[OpenBatch],
        outcome: str,
    ) -> None:
        """Wake the writers of batches settled by this commit. A batch whose chunks are partly
        retried stays pending; one with a refused chunk was (partly) dropped."""
        pending = {b.id for b in retry} | self.s.open.open_ids()  # chunks still to be written
        # and chunks of the same batches in later commits
        pending.update(b.id for f in self._flights.values() if f.number > flight.number for b in f.batches)
        outcomes = {b.id: outcome for b in written}
        outcomes.update({b.id: "refused" for b in refused})
        for batch_id, result in outcomes.items():
            if batch_id in pending:
                continue
            for waiter in self._waiters.pop(batch_id, []):
                waiter.outcome = result
                waiter.event.set()

    def _merge_waiters(self, absorbed: int, into: int) -> None:
        moved = self._waiters.pop(absorbed, [])
        self._waiters.setdefault(into, []).extend(moved)

    def _write_failed(self, error: OSError, batches: int) -> None:
        self.blocked_until = trio.current_time() + self.config.commit_interval
        log.error(
            "cannot write to the buffer in %s: %s; %d batch(es) stay in memory and are retried "
            "(writers are refused once buffer.max_memory_bytes is reached)",
            self.s.directory,
            error.strerror or error,
            batches,
        )

    def _evict(self, seq: int) -> None:
        """A segment was deleted for the budget: count what it still held."""
        segment = self.s.table.remove(seq)
        self.s.planner.segment_removed(seq)
        self.s.hot.forget(seq)
        lost = max(0, segment.unsettled_records - self.s.planner.in_flight_records(seq))
        # a fully settled segment still "holding" records held them in destroyed frames
        reason = "corrupt" if segment.is_settled() else "disk_budget"
        detail = f"evicted {segment.name} ({segment.header.priority.name.lower()})"
        self.s.drops.record(segment.header.signal, reason, lost, detail)
        self._state_dirty = True

    # -- housekeeping ------------------------------------------------------

    def settled(self, settled: list[tuple[int, int, int, int]], done: list[Segment]) -> None:
        """Frames were acknowledged or settled as damaged: log them soon, delete what is done."""
        for seq, start, end, records in settled:
            segment = self.s.table.get(seq)
            if segment is not None:
                if not self._acks:
                    self._acks_since = trio.current_time()
                self._acks.append((seq, segment.header.uid, start, end, records))
        if done:
            self._wake.set()  # deletions to do
        elif self._acks:
            self._due_by(self._ack_deadline())
        self.progress.set()
        self.progress = trio.Event()

    def _notify_space(self) -> None:
        self._space.set()
        self._space = trio.Event()
        self.progress.set()
        self.progress = trio.Event()

    async def housekeeping(self, now: float, *, force_state: bool = False) -> None:
        async with self._io_lock:
            try:
                await self._delete_done(now)
                await self._sync_and_save(now, force_state=force_state)
            except OSError as exc:
                self._io_error("buffer housekeeping (delete, fsync, save state) failed", exc)

    def _io_error(self, what: str, exc: OSError) -> None:
        # retried on the next tick; logged at most once a minute
        now = trio.current_time()
        if now - self._last_io_error >= 60.0:
            self._last_io_error = now
            log.error("%s in %s: %s; retrying", what, self.s.directory, exc.strerror or exc)

    async def _delete_done(self, now: float) -> None:
        done = self.s.table.done()
        if not done:
            return
        for segment in done:
            # records the segment held in frames nobody could read (destroyed headers): lost
            detail = f"frames with destroyed headers in {segment.name}"
            self.s.drops.record(segment.header.signal, "corrupt", segment.unsettled_records, detail)
            segment.settled_records = segment.records
        # the state saying "all settled" goes first: a crash between the two must not make
        # the next start report these files as vanished with unsent records
        await self._save_state(now)
        await trio.to_thread.run_sync(self.s.store.delete, [s.seq for s in done])
        for segment in done:
            self.s.table.remove(segment.seq)
            self.s.planner.segment_removed(segment.seq)
            self.s.hot.forget(segment.seq)
        self._state_dirty = True
        if self.blocked_until is not None:
            self.blocked_until = now  # room again: retry the deferred data at once
        self._notify_space()

    async def _sync_and_save(self, now: float, *, force_state: bool) -> None:
        if self.config.fsync == "interval" and now - self._last_fsync >= self.config.fsync_interval:
            seconds = await trio.to_thread.run_sync(self.s.store.sync)
            if seconds:
                self.s.instruments.fsync_latency.observe(seconds)
            self._last_fsync = now
        if force_state or (self._state_dirty and now - self._last_state_write >= self.config.state_interval):
            await self._save_state(now)
        elif self._acks and now >= self._ack_deadline():
            since = self._acks_since
            acks = self._take_acks()
            data = encode_acks(acks)
            try:
                await trio.to_thread.run_sync(self.s.store.append_acks, data)
            except OSError:
                self._acks, self._acks_since = acks + self._acks, since
                raise
            self._acks_logged(len(data))

    def _ack_deadline(self) -> float:
        wait = ACK_INTERVAL if len(self._acks) >= ACK_MAX_PENDING else ACK_MAX_DELAY
        return self._acks_since + wait

    def _take_acks(self) -> list[Ack]:
        acks, self._acks = self._acks, []
        return acks

    def _acks_logged(self, size: int) -> None:
        self._ack_log_bytes += size
        if self._ack_log_bytes >= ACK_LOG_MAX:
            self._state_dirty = True  # fold the log into the state at the next state write

    async def _save_state(self, now: float) -> None:
        data = encode_state(self.s.table, self.next_seq)
        self._state_dirty = False  # changes during the write make it dirty again
        self._acks = []  # in the state now
        self._ack_log_bytes = 0
        self._last_state_write = now
        try:
            await trio.to_thread.run_sync(self.s.store.write_state, data)
        except OSError:
            self._state_dirty = True
            raise
        self._state_size = len(data)

    def _watch_gauges(self) -> None:
        """The gauges are read when collected (every 60 s, or a /metrics request), not kept
        up to date on every commit and ack: on an idle device that was work for nobody."""
        inst = self.s.instruments
        inst.disk_bytes.callback = lambda: self._per_stream(0)
        inst.disk_frames.callback = lambda: self._per_stream(1)
        inst.memory_bytes.callback = lambda: [({}, float(self.s.open.memory_bytes))]
        inst.oldest_age.callback = lambda: [({}, self._oldest_age())]

    def _per_stream(self, column: int) -> list[tuple[dict[str, str], float]]:
        sizes = {stream: [0, 0] for stream in ALL_STREAMS}
        for segment in self.s.table:
            sizes[segment.stream][0] += segment.size
            sizes[segment.stream][1] += segment.frames
        return [
            ({"signal": signal.value, "priority": priority.name.lower()}, float(values[column]))
            for (signal, priority), values in sizes.items()
        ]

    def _oldest_age(self) -> float:
        created = [s.header.created_ns for s in self.s.table if s.unsettled_records]
        return max(0.0, (self.s.wall_ns() - min(created)) / 1e9) if created else 0.0
