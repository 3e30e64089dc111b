"""The durable disk buffer: group commit into segment files, replay to the exporter (trio shell).

Writers add fragments to open batches in memory
(:mod:`~edge_agent.buffer.batching`): ``offer`` never waits, ``append``
waits (boundedly) for room and, with ``durable=True``, for the commit that
makes its data safe. The committer (:mod:`~edge_agent.buffer.committer`)
turns open batches into frames in segment files; the reader
(:mod:`~edge_agent.buffer.reader`) turns frames back into batches for the
exporter. This module ties them together: opening (recovery), shutdown
(a final shielded commit), and the statistics ``/status`` shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from edge_agent.buffer.api import Batch, Encoding
from edge_agent.buffer.batching import OpenBatches
from edge_agent.buffer.committer import Committer, Shared
from edge_agent.buffer.config import BufferConfig
from edge_agent.buffer.crypto import open_sealer
from edge_agent.buffer.droplog import DropRecorder
from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.buffer.reader import BatchReader, Settlement
from edge_agent.buffer.recovery import RecoveryReport
from edge_agent.buffer.replay import ReplayPlanner
from edge_agent.buffer.segments import Segment
from edge_agent.buffer.store import Recovered, SegmentStore
from edge_agent.buffer.table import SegmentTable
from edge_agent.errors import BufferFullError
from edge_agent.otlp.fragment import Fragment

log = logging.getLogger("edge_agent.buffer")

_SHUTDOWN_GRACE = 10.0  # bound on the final commit when the buffer is cancelled
_YIELD_BYTES = 64 * 1024  # appends between two schedule points of a writer that never waits


class DiskBuffer:
    """Implements :class:`~edge_agent.buffer.api.ManagedBuffer` on disk."""

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
        table = SegmentTable()
        self._s = Shared(
            config=config,
            directory=directory,
            table=table,
            planner=ReplayPlanner(
                table,
                mode=config.replay,
                backfill_share=config.backfill_share,
                fresh_window=config.fresh_window,
            ),
            open=OpenBatches(
                max_bytes=config.max_memory_bytes,
                commit_bytes=config.commit_bytes,
                commit_interval=config.commit_interval,
            ),
            store=SegmentStore(directory),
            instruments=instruments,
            drops=DropRecorder(instruments.dropped, log),
            wall_ns=wall_ns,
        )
        self._reader = BatchReader(
            self._s.store,
            table,
            self._s.planner,
            instruments,
            self._s.drops,
            wire=wire,
            level=config.compression_level or None,
            frame_codec="identity" if config.compression == "none" else config.compression,
            on_settled=self._settled,
            hot=self._s.hot,
        )
        self._committer = Committer(self._s, notify_data=self._reader.notify_data)
        self.report: RecoveryReport | None = None
        self._unyielded = 0  # bytes appended since append() last yielded to the scheduler

    def _settled(self, settled: list[Settlement], done: list[Segment]) -> None:
        # the reader exists before the committer; forward acks to it
        self._committer.settled(settled, done)

    # -- lifecycle ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Recover the directory, then run the committer until cancelled (flushing on the way out)."""
        store = self._s.store
        store.sealer = await trio.to_thread.run_sync(open_sealer, self.config.encryption_key_file)
        await trio.to_thread.run_sync(store.lock)
        try:
            self._adopt(await trio.to_thread.run_sync(store.recover))
            self._committer.enabled = True
            await self._committer.housekeeping(trio.current_time(), force_state=True)
            self._reader.notify_data()
            task_status.started()
            await self._committer.run()
        finally:
            with trio.move_on_after(_SHUTDOWN_GRACE) as scope:
                scope.shield = True
                if self._committer.enabled:
                    await self.flush()
                    self._count_unwritten()
                    self._s.drops.flush()
                await trio.to_thread.run_sync(store.close)
            self._committer.enabled = False

    async def flush(self) -> None:
        """Commit everything accepted so far and save the cursor state (shutdown, tests)."""
        if not self._committer.enabled:
            return
        with trio.CancelScope(shield=True):
            await self._committer.commit(force=True)
            await self._committer.housekeeping(trio.current_time(), force_state=True)

    def use_wire_encoding(self, encoding: Encoding) -> None:
        """The exporter now sends ``encoding``: batches built from here on use it."""
        self._reader.use_wire_encoding(encoding)

    async def commit(self, *, force: bool = False) -> None:
        """Commit the open batches now instead of at the next interval."""
        await self._committer.commit(force=force)

    def _adopt(self, recovered: Recovered) -> None:
        for segment in recovered.table:
            self._s.table.add(segment)
        self._committer.next_seq = recovered.next_seq
        report = self.report = recovered.report
        for (signal, reason), records in sorted(report.dropped().items()):
            self._s.drops.record(signal, reason, records, f"found on start in {self.directory}")
        self._s.instruments.corrupt_bytes.inc(report.corrupt_bytes())
        _log_report(self.directory, report, self._s.table)

    def _count_unwritten(self) -> None:
        for (signal, _), records in self._s.open.open_records():
            self._s.drops.record(signal, "shutdown", records, "could not be committed before exit")

    # -- writers -----------------------------------------------------------

    def offer(self, fragment: Fragment) -> bool:
        if not self._committer.admits(len(fragment.payload)):
            return False
        self._committer.add(fragment)
        return True

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:
        committer = self._committer
        size = len(fragment.payload)
        if durable or not committer.admits(size):
            await self._append_slow(fragment, size, durable)
            return
        committer.add(fragment)
        # A full schedule point costs ~3.5 us, as much as the rest of this call: a writer
        # appending in a tight loop yields once per _YIELD_BYTES (so the committer and every
        # other task still run within a fraction of a millisecond), and is cancellable always.
        self._unyielded += size
        if self._unyielded >= _YIELD_BYTES:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()

    async def _append_slow(self, fragment: Fragment, size: int, durable: bool) -> None:
        """Wait (boundedly) for room, and with ``durable`` for the commit of the data."""
        committer = self._committer
        deadline = trio.current_time() + self.config.block_timeout
        if not committer.admits(size):
            with trio.move_on_at(deadline):
                while not committer.admits(size):
                    await committer.wait_for_space()
            if not committer.admits(size):
                raise BufferFullError(committer.full_reason(size), retry_after=committer.retry_after())
        batch_id = committer.add(fragment)
        if not durable:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()
            return
        waiter = committer.waiter(batch_id)
        # room was found in time; the commit itself may take up to one more interval
        with trio.move_on_at(deadline + self.config.commit_interval):
            await waiter.event.wait()
        if waiter.outcome == "pending":
            raise BufferFullError(committer.full_reason(size), retry_after=committer.retry_after())
        if waiter.outcome != "committed":
            raise BufferFullError(
                f"the buffer could not store the data ({waiter.outcome}); retry later",
                retry_after=committer.retry_after(),
            )

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
            self._s.open.memory_bytes
            or self._s.planner.in_flight
            or any(self._s.table.unsettled_records().values())
        ):
            await self._committer.progress.wait()

    # -- statistics --------------------------------------------------------

    def queued_bytes(self) -> int:
        return self._s.table.total_bytes() + self._s.open.memory_bytes

    def in_flight_bytes(self) -> int:
        return self._s.planner.in_flight_bytes()

    def queued_records(self) -> dict[str, int]:
        counts = {signal.value: n for signal, n in self._s.table.unsettled_records().items()}
        for (signal, _), records in self._s.open.open_records():
            counts[signal.value] += records
        return counts

    def status(self) -> dict[str, Any]:
        return {
            "kind": "disk",
            "dir": str(self.directory),
            "bytes": self.queued_bytes(),
            "disk_bytes": self._s.table.total_bytes(),
            "max_bytes": self.max_bytes,
            "memory_bytes": self._s.open.memory_bytes,
            "max_memory_bytes": int(self.config.max_memory_bytes),
            "in_flight_bytes": self.in_flight_bytes(),
            "segments": len(self._s.table),
            "records": self.queued_records(),
            "oldest_age_s": round(self._s.instruments.oldest_age.value(), 1),
            "when_full": self.config.when_full,
            "fsync": self.config.fsync,
            "replay": self.config.replay,
            "blocked": self._committer.blocked_until is not None,
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
