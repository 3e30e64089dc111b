"""The durable disk buffer: group commit into segment files, replay to the exporter (trio shell).

Theory of operation. Writers add fragments to open batches in memory
(:mod:`~edge_agent.buffer.batching`); ``offer`` never waits, ``append``
waits for room and, with ``durable=True``, for the commit that makes its
data safe. The committer task wakes when a commit is due (the oldest batch
waited ``commit_interval``, or a batch reached ``commit_bytes``), compresses
every open batch once in a worker thread, plans where each frame goes and
what the budget evicts (:mod:`~edge_agent.buffer.commit`), and has the store
delete, write and fsync in one worker-thread call. Only then is the
bookkeeping updated and are the durable writers released. The same task
does the housekeeping: deleting fully settled segments, periodic fsync
(``fsync = "interval"``), saving the cursor state, self-metrics.

The read side lives in :mod:`~edge_agent.buffer.reader`. Commits and
shutdown flushes are shielded from cancellation: a frame is either written
and accounted, or still in memory, never half of each.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from edge_agent.buffer import codecs
from edge_agent.buffer.api import Batch, Encoding
from edge_agent.buffer.batching import OpenBatch, OpenBatches
from edge_agent.buffer.commit import CommitPlan, CommitResult, Prepared, apply_commit, plan_commit
from edge_agent.buffer.config import BufferConfig
from edge_agent.buffer.crypto import OVERHEAD, open_sealer
from edge_agent.buffer.cursor import encode_state
from edge_agent.buffer.droplog import DropRecorder
from edge_agent.buffer.frames import FRAME_HEADER_SIZE, Envelope, encode_envelope
from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.buffer.reader import BatchReader
from edge_agent.buffer.recovery import RecoveryReport
from edge_agent.buffer.replay import ReplayPlanner
from edge_agent.buffer.segments import Segment, SegmentHeader, StreamKey
from edge_agent.buffer.store import Recovered, SegmentStore
from edge_agent.buffer.table import ALL_STREAMS, SegmentTable
from edge_agent.errors import BufferFullError
from edge_agent.otlp.fragment import Fragment

log = logging.getLogger("edge_agent.buffer")

_SHUTDOWN_GRACE = 10.0  # bound on the final commit when the committer is cancelled


@dataclass
class _Waiter:
    event: trio.Event = field(default_factory=trio.Event)
    outcome: str = "pending"  # committed | refused | failed


class DiskBuffer:
    """Implements :class:`~edge_agent.buffer.api.BufferWriter` and ``BufferReader`` on disk."""

    kind = "disk"

    def __init__(
        self,
        config: BufferConfig,
        directory: Path,
        instruments: BufferInstruments,
        *,
        wire: Encoding = "gzip",
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.directory = directory
        self.max_bytes = int(config.max_disk_bytes)
        self._instruments = instruments
        self._wall_ns = wall_ns
        self._codec: Encoding = "identity" if config.compression == "none" else config.compression
        self._level = config.compression_level or None
        self._table = SegmentTable()
        self._planner = ReplayPlanner(
            self._table,
            mode=config.replay,
            backfill_share=config.backfill_share,
            fresh_window=config.fresh_window,
        )
        self._open = OpenBatches(
            max_bytes=config.max_memory_bytes,
            commit_bytes=config.commit_bytes,
            commit_interval=config.commit_interval,
        )
        self._store = SegmentStore(directory)
        self._drops = DropRecorder(instruments.dropped, log)
        self._reader = BatchReader(
            self._store,
            self._table,
            self._planner,
            instruments,
            self._drops,
            wire=wire,
            level=self._level if wire == self._codec else None,
            on_settled=self._settled,
        )
        self._waiters: dict[int, list[_Waiter]] = {}
        self._recovered = False
        # one disk operation at a time: commits, deletions and state writes all change the table
        self._io_lock = trio.Lock()
        self._last_io_error = float("-inf")
        self._wake = trio.Event()
        self._space = trio.Event()
        self._progress = trio.Event()
        self._next_seq = 0
        self._blocked_until: float | None = None  # block policy: the disk is full until space frees
        self._state_dirty = False
        self._state_size = 0
        self._last_state_write = float("-inf")
        self._last_fsync = float("-inf")
        self.report: RecoveryReport | None = None

    # -- lifecycle ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Recover the directory, then run the committer until cancelled (flushing on the way out)."""
        self._store.sealer = await trio.to_thread.run_sync(open_sealer, self.config.encryption_key_file)
        await trio.to_thread.run_sync(self._store.lock)
        try:
            self._adopt(await trio.to_thread.run_sync(self._store.recover))
            self._recovered = True
            await self._housekeeping(trio.current_time(), force_state=True)
            self._reader.notify_data()
            task_status.started()
            await self._commit_loop()
        finally:
            with trio.move_on_after(_SHUTDOWN_GRACE) as scope:
                scope.shield = True
                if self._recovered:
                    await self.flush()
                    self._count_unwritten()
                    self._drops.flush()
                await trio.to_thread.run_sync(self._store.close)
            self._recovered = False

    async def flush(self) -> None:
        """Commit everything accepted so far and save the cursor state (shutdown, tests)."""
        if not self._recovered:
            return
        with trio.CancelScope(shield=True):
            await self.commit(force=True)
            await self._housekeeping(trio.current_time(), force_state=True)

    def _adopt(self, recovered: Recovered) -> None:
        for segment in recovered.table:
            self._table.add(segment)
        self._next_seq = recovered.next_seq
        report = self.report = recovered.report
        for (signal, reason), records in sorted(report.dropped().items()):
            self._drops.record(signal, reason, records, f"found on start in {self.directory}")
        self._instruments.corrupt_bytes.inc(report.corrupt_bytes())
        _log_report(self.directory, report, self._table)

    def _count_unwritten(self) -> None:
        for (signal, _), records in self._open.open_records():
            self._drops.record(signal, "shutdown", records, "could not be committed before exit")

    # -- writers -----------------------------------------------------------

    def offer(self, fragment: Fragment) -> bool:
        if not self._admits(len(fragment.payload)):
            return False
        self._add(fragment)
        return True

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:
        size = len(fragment.payload)
        deadline = trio.current_time() + self.config.block_timeout
        with trio.move_on_at(deadline):
            while not self._admits(size):
                space = self._space
                await space.wait()
        if not self._admits(size):
            raise BufferFullError(self._full_reason(size), retry_after=self._retry_after())
        batch_id = self._add(fragment)
        if not durable:
            await trio.lowlevel.checkpoint()
            return
        waiter = _Waiter()
        self._waiters.setdefault(batch_id, []).append(waiter)
        # room was found in time; the commit itself may take up to one more interval
        with trio.move_on_at(deadline + self.config.commit_interval):
            await waiter.event.wait()
        if waiter.outcome == "pending":
            raise BufferFullError(self._full_reason(size), retry_after=self._retry_after())
        if waiter.outcome != "committed":
            raise BufferFullError(
                f"the buffer could not store the data ({waiter.outcome}); retry later",
                retry_after=self._retry_after(),
            )

    def _admits(self, size: int) -> bool:
        return self._blocked_until is None and self._open.fits(size)

    def _full_reason(self, size: int) -> str:
        if self._blocked_until is not None:
            return f"the disk buffer is full ({self.max_bytes} bytes, when_full = 'block')"
        if not self._open.fits(size):
            return f"{self._open.memory_bytes} bytes are waiting for the disk (buffer.max_memory_bytes)"
        return f"the data was not committed within buffer.block_timeout ({self.config.block_timeout:g}s)"

    def _retry_after(self) -> float:
        return max(1.0, self.config.commit_interval) * (5 if self._blocked_until is not None else 1)

    def _add(self, fragment: Fragment) -> int:
        was_empty = self._open.due_at() is None
        batch_id = self._open.add(fragment, trio.current_time())
        if was_empty or self._open.is_full():
            self._wake.set()
        return batch_id

    # -- committing --------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            wake = self._wake = trio.Event()
            with trio.move_on_at(self._next_deadline()):
                await wake.wait()
            now = trio.current_time()
            if self._commit_due(now):
                await self.commit()
            await self._housekeeping(now)

    def _next_deadline(self) -> float:
        deadlines = [float("inf")]
        due = self._open.due_at()
        if due is not None:
            deadlines.append(max(due, self._blocked_until or due))
        if self._state_dirty:
            deadlines.append(self._last_state_write + self.config.state_interval)
        if self.config.fsync == "interval" and self._store.has_unsynced():
            deadlines.append(self._last_fsync + self.config.fsync_interval)
        if self._table.done():
            deadlines.append(trio.current_time())
        return min(deadlines)

    def _commit_due(self, now: float) -> bool:
        due = self._open.due_at()
        if due is None:
            return False
        if self._blocked_until is not None and now < self._blocked_until:
            return False
        return self._open.is_full() or now >= due

    async def commit(self, *, force: bool = False) -> None:
        """Write every open batch as one group commit (shielded: it completes once started)."""
        if not self._recovered:
            return
        with trio.CancelScope(shield=True):
            async with self._io_lock:
                if force:
                    self._blocked_until = None
                batches = self._open.take()
                if batches:
                    prepared = await trio.to_thread.run_sync(self._prepare, batches)
                    plan = plan_commit(
                        self._table,
                        prepared,
                        segment_bytes=self.config.effective_segment_bytes,
                        limit=self._disk_limit(),
                        policy=self.config.when_full,
                        next_seq=self._next_seq,
                        new_header=self._new_header,
                    )
                    fsync = self.config.fsync == "always"
                    state = self._state_without(plan.victims) if plan.victims else None
                    result = await trio.to_thread.run_sync(
                        lambda: self._store.execute(plan, fsync=fsync, state=state)
                    )
                    self._apply(plan, result, batches)

    def _prepare(self, batches: list[OpenBatch]) -> list[Prepared]:
        """Compress each batch once and encode its envelope (worker thread)."""
        overhead = FRAME_HEADER_SIZE + (OVERHEAD if self._store.sealer is not None else 0)
        out = []
        for batch in batches:
            payload = batch.payload()
            signal, priority = batch.stream
            envelope = Envelope(
                signal,
                priority,
                batch.records,
                batch.first_ns,
                batch.last_ns,
                self._codec,
                len(payload),
                codecs.compress(self._codec, payload, self._level),
            )
            body = encode_envelope(envelope)
            out.append(Prepared(batch, body, overhead + len(body)))
        return out

    def _new_header(self, seq: int, stream: StreamKey) -> SegmentHeader:
        sealer = self._store.sealer
        return SegmentHeader(
            seq,
            stream[0],
            stream[1],
            uid=secrets.randbits(64),
            created_ns=self._wall_ns(),
            encrypted=sealer is not None,
            key_id=sealer.key_id if sealer is not None else b"\0\0\0\0",
        )

    def _state_without(self, victims: list[int]) -> bytes:
        """State to save before evicting ``victims``: a crash after the deletion then finds no
        "vanished" segments (their loss was counted here); a crash before it resends them."""
        return encode_state([s for s in self._table if s.seq not in victims], self._next_seq)

    def _disk_limit(self) -> int:
        # room for the state file and its temporary copy while it is replaced
        return self.max_bytes - 2 * self._state_size - 4096

    def _apply(self, plan: CommitPlan, result: CommitResult, batches: list[OpenBatch]) -> None:
        now = trio.current_time()
        for seq in result.deleted:
            self._evict(seq)
        for stream, ref in apply_commit(self._table, plan, result):
            self._planner.committed(stream, ref, now)
        self._next_seq = plan.next_seq
        self._instruments.commits.inc()
        self._instruments.written.inc(result.written_bytes)
        if self.config.fsync == "always" and result.error is None:
            self._instruments.fsync_latency.observe(result.fsync_seconds)
        written = [a.prepared.batch for a in plan.appends[: result.appended]]
        unwritten = [a.prepared.batch for a in plan.appends[result.appended :]]
        retry = unwritten + [p.batch for p in plan.deferred]
        # under fsync = always a failed commit was not fsynced: its writers must not be told "safe"
        safe = result.error is None or self.config.fsync != "always"
        self._resolve(written, "committed" if safe else "failed")
        for prepared in plan.refused:
            batch = prepared.batch
            self._drops.record(batch.stream[0], "disk_budget", batch.records, "no room for new data")
        self._resolve([p.batch for p in plan.refused], "refused")
        self._open.done([b for b in batches if b not in retry])
        for absorbed, into in self._open.put_back(retry).items():
            self._merge_waiters(absorbed, into)
        if plan.deferred:
            self._blocked_until = now + self.config.commit_interval
        elif not unwritten:
            self._blocked_until = None
        if result.error is not None:
            self._write_failed(result.error, len(retry))
        self._state_dirty = self._state_dirty or bool(plan.seals or plan.victims or plan.creates)
        self._notify_space()
        if written:
            self._reader.notify_data()

    def _resolve(self, batches: list[OpenBatch], outcome: str) -> None:
        for batch in batches:
            for waiter in self._waiters.pop(batch.id, []):
                waiter.outcome = outcome
                waiter.event.set()

    def _merge_waiters(self, absorbed: int, into: int) -> None:
        self._waiters.setdefault(into, []).extend(self._waiters.pop(absorbed, []))

    def _write_failed(self, error: OSError, batches: int) -> None:
        self._blocked_until = trio.current_time() + self.config.commit_interval
        log.error(
            "cannot write to the buffer in %s: %s; %d batch(es) stay in memory and are retried "
            "(writers are refused once buffer.max_memory_bytes is reached)",
            self.directory,
            error.strerror or error,
            batches,
        )

    def _evict(self, seq: int) -> None:
        """A segment was deleted for the budget: count what it still held."""
        segment = self._table.remove(seq)
        self._planner.segment_removed(seq)
        lost = max(0, segment.unsettled_records - self._planner.in_flight_records(seq))
        # a fully settled segment still "holding" records held them in destroyed frames
        reason = "corrupt" if segment.is_settled() else "disk_budget"
        detail = f"evicted {segment.name} ({segment.header.priority.name.lower()})"
        self._drops.record(segment.header.signal, reason, lost, detail)
        self._state_dirty = True

    # -- housekeeping ------------------------------------------------------

    def _settled(self, done: list[Segment]) -> None:
        self._state_dirty = True
        if done:
            self._wake.set()
        self._progress.set()
        self._progress = trio.Event()

    def _notify_space(self) -> None:
        self._space.set()
        self._space = trio.Event()
        self._progress.set()
        self._progress = trio.Event()

    async def _housekeeping(self, now: float, *, force_state: bool = False) -> None:
        async with self._io_lock:
            try:
                await self._delete_done(now)
                await self._sync_and_save(now, force_state=force_state)
            except OSError as exc:
                self._io_error("buffer housekeeping (delete, fsync, save state) failed", exc)
        self._update_gauges()

    def _io_error(self, what: str, exc: OSError) -> None:
        # retried on the next tick; logged at most once a minute
        now = trio.current_time()
        if now - self._last_io_error >= 60.0:
            self._last_io_error = now
            log.error("%s in %s: %s; retrying", what, self.directory, exc.strerror or exc)

    async def _delete_done(self, now: float) -> None:
        done = self._table.done()
        if not done:
            return
        for segment in done:
            # records the segment held in frames nobody could read (destroyed headers): lost
            detail = f"frames with destroyed headers in {segment.name}"
            self._drops.record(segment.header.signal, "corrupt", segment.unsettled_records, detail)
            segment.settled_records = segment.records
        # the state saying "all settled" goes first: a crash between the two must not make
        # the next start report these files as vanished with unsent records
        await self._save_state(now)
        await trio.to_thread.run_sync(self._store.delete, [s.seq for s in done])
        for segment in done:
            self._table.remove(segment.seq)
            self._planner.segment_removed(segment.seq)
        self._state_dirty = True
        if self._blocked_until is not None:
            self._blocked_until = now  # room again: retry the deferred data at once
        self._notify_space()

    async def _sync_and_save(self, now: float, *, force_state: bool) -> None:
        if self.config.fsync == "interval" and now - self._last_fsync >= self.config.fsync_interval:
            seconds = await trio.to_thread.run_sync(self._store.sync)
            if seconds:
                self._instruments.fsync_latency.observe(seconds)
            self._last_fsync = now
        if force_state or (self._state_dirty and now - self._last_state_write >= self.config.state_interval):
            await self._save_state(now)

    async def _save_state(self, now: float) -> None:
        data = encode_state(self._table, self._next_seq)
        self._state_dirty = False  # acks arriving during the write make it dirty again
        self._last_state_write = now
        try:
            await trio.to_thread.run_sync(self._store.write_state, data)
        except OSError:
            self._state_dirty = True
            raise
        self._state_size = len(data)

    def _update_gauges(self) -> None:
        sizes = {stream: [0, 0] for stream in ALL_STREAMS}
        oldest = None
        for segment in self._table:
            sizes[segment.stream][0] += segment.size
            sizes[segment.stream][1] += segment.frames
            if segment.unsettled_records and (oldest is None or segment.header.created_ns < oldest):
                oldest = segment.header.created_ns
        for (signal, priority), (size, frames) in sizes.items():
            labels = {"signal": signal.value, "priority": priority.name.lower()}
            self._instruments.disk_bytes.set(size, **labels)
            self._instruments.disk_frames.set(frames, **labels)
        self._instruments.memory_bytes.set(self._open.memory_bytes)
        age = (self._wall_ns() - oldest) / 1e9 if oldest is not None else 0.0
        self._instruments.oldest_age.set(max(0.0, age))

    # -- readers (see reader.py) --------------------------------------------

    async def next_batch(self, *, max_bytes: int) -> Batch:
        return await self._reader.next_batch(max_bytes=max_bytes)

    def ack(self, batch: Batch) -> None:
        self._reader.ack(batch)

    def release(self, batch: Batch) -> None:
        self._reader.release(batch)

    def drop(self, batch: Batch, reason: str) -> None:
        self._reader.drop(batch, reason)

    async def wait_drained(self) -> None:
        """Return once everything accepted has been settled (delivered or dropped)."""
        while (
            self._open.memory_bytes
            or self._planner.in_flight
            or any(self._table.unsettled_records().values())
        ):
            await self._progress.wait()

    # -- statistics --------------------------------------------------------

    def queued_bytes(self) -> int:
        return self._table.total_bytes() + self._open.memory_bytes

    def in_flight_bytes(self) -> int:
        return self._planner.in_flight_bytes()

    def queued_records(self) -> dict[str, int]:
        counts = {signal.value: n for signal, n in self._table.unsettled_records().items()}
        for (signal, _), records in self._open.open_records():
            counts[signal.value] += records
        return counts

    def status(self) -> dict[str, Any]:
        self._update_gauges()
        return {
            "kind": "disk",
            "dir": str(self.directory),
            "bytes": self._table.total_bytes(),
            "max_bytes": self.max_bytes,
            "memory_bytes": self._open.memory_bytes,
            "max_memory_bytes": int(self.config.max_memory_bytes),
            "in_flight_bytes": self.in_flight_bytes(),
            "segments": len(self._table),
            "records": self.queued_records(),
            "oldest_age_s": round(self._instruments.oldest_age.value(), 1),
            "when_full": self.config.when_full,
            "fsync": self.config.fsync,
            "replay": self.config.replay,
            "blocked": self._blocked_until is not None,
        }


def _log_report(directory: Path, report: RecoveryReport, table: SegmentTable) -> None:
    pending = sum(table.unsettled_records().values())
    log.info(
        "buffer %s: %d segment(s) (%d trusted from state, %d scanned), %d frame(s), %d record(s) to send",
        directory,
        len(table),
        report.trusted,
        report.scanned,
        report.frames,
        pending,
    )
    if report.state_problem:
        log.warning("buffer: %s", report.state_problem)
    if report.truncated_bytes:
        log.warning("buffer: truncated %d bytes of torn writes at segment ends", report.truncated_bytes)
    for name, damage in report.damage:
        if damage.reason != "torn":
            log.warning(
                "buffer: %s has %d damaged bytes at %d (%s); skipped",
                name,
                damage.length,
                damage.offset,
                damage.reason,
            )
    for name, _, records, reason in report.lost:
        what = "vanished" if reason == "segment_missing" else "was unusable and removed"
        log.warning("buffer: %s %s with %d unsent record(s)", name, what, records)
    for name in report.ignored:
        log.warning("buffer: ignoring unexpected file %s in %s", name, directory)
