"""The disk buffer end to end on real files: commit, replay, settle, restart, backpressure."""

from __future__ import annotations

import errno
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from edge_agent.buffer.commit import CommitPlan, CommitResult
from edge_agent.buffer.committer import ACK_INTERVAL, ACK_MAX_DELAY, ACK_MAX_PENDING
from edge_agent.buffer.disk import DiskBuffer
from edge_agent.buffer.store import STATE_FILE, SegmentStore
from edge_agent.errors import BufferFullError, StorageError
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from tests.buffer.helpers import (
    config,
    directory_bytes,
    drain,
    dropped,
    incompressible_logs,
    instruments,
    log_fragment,
    opened,
    record_ids,
    segment_files,
    write,
)


async def test_durable_append_returns_after_the_commit_and_survives_a_restart(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """A durable append waits for the group commit; the data is on disk for the next process."""
    async with opened(tmp_path) as buf:
        started = trio.current_time()
        await buf.append(log_fragment(range(5)), durable=True)
        assert 0 < trio.current_time() - started <= 1.0 + 1e-6  # waited for the 1 s group commit
        assert segment_files(tmp_path)
    async with opened(tmp_path) as buf:
        batches = await drain(buf)
    assert [i for b in batches for i in record_ids(b)] == list(range(5))


async def test_many_writers_share_one_commit(tmp_path: Path, io_clock: trio.testing.MockClock) -> None:
    """Concurrent durable appends within one interval become a single frame and fsync."""
    inst = instruments()
    async with opened(tmp_path, inst) as buf:
        commits_before = inst.commits.total()
        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(partial(buf.append, log_fragment([i]), durable=True))
        assert inst.commits.total() - commits_before == 1
        (batch,) = await drain(buf)
    assert sorted(record_ids(batch)) == list(range(20))


async def test_shutdown_commits_what_scrapers_offered(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """offer() never waits; data offered just before the buffer stops is committed on the way out."""
    async with opened(tmp_path, commit_interval=3600.0) as buf:
        assert buf.offer(log_fragment(range(3)))
    async with opened(tmp_path) as buf:
        assert buf.queued_records()["logs"] == 3


async def test_acknowledged_segments_are_deleted_and_state_saved(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """Once every frame of a sealed segment is acked its file goes; after a restart nothing is resent."""
    fragments = [incompressible_logs(range(i * 10, i * 10 + 10), 5000) for i in range(20)]
    await write(tmp_path, fragments, segment_bytes=64 * 1024, commit_bytes=64 * 1024)
    async with opened(tmp_path, segment_bytes=64 * 1024) as buf:
        assert len(segment_files(tmp_path)) > 1
        batches = await drain(buf)
        await buf.flush()
        assert segment_files(tmp_path) == []
    assert sorted(i for b in batches for i in record_ids(b)) == list(range(200))
    async with opened(tmp_path) as buf:
        assert buf.queued_records() == {"traces": 0, "metrics": 0, "logs": 0}


async def test_several_batches_in_flight_never_overlap(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """Concurrent readers get disjoint batches; a released batch is sent again, nothing twice after acks."""
    await write(
        tmp_path,
        [log_fragment(range(i * 5, i * 5 + 5)) for i in range(40)],
        commit_bytes=64 * 1024,
        commit_interval=0.001,
    )
    async with opened(tmp_path) as buf:
        first = [await buf.next_batch(max_bytes=2000) for _ in range(4)]
        ids = [record_ids(b) for b in first]
        flat = [i for x in ids for i in x]
        assert len(flat) == len(set(flat))
        buf.release(first[0])
        again = await buf.next_batch(max_bytes=2000)
        assert record_ids(again) == ids[0]
        for b in [again, *first[1:]]:
            buf.ack(b)
        rest = await drain(buf, max_bytes=2000)
    delivered = flat + [i for b in rest for i in record_ids(b)]
    assert sorted(delivered) == list(range(200))


async def test_memory_bound_refuses_offers_and_times_out_appends(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """Past max_memory_bytes, offer() returns False and append() raises BufferFullError with Retry-After."""
    async with opened(
        tmp_path,
        max_memory_bytes=64 * 1024,
        commit_interval=30.0,
        commit_bytes=1024 * 1024,
        block_timeout=2.0,
    ) as buf:
        big = log_fragment(range(10), pad=6000)
        while buf.offer(big):
            pass
        with pytest.raises(BufferFullError) as info:
            await buf.append(big)
        assert info.value.retry_after >= 1.0
        assert "max_memory_bytes" in str(info.value)


async def test_block_policy_backpressures_until_space_frees(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """With when_full = 'block' a full disk refuses writers (nothing dropped); acks make room again."""
    inst = instruments()
    opts = {
        "max_disk_bytes": 1024 * 1024,
        "segment_bytes": 64 * 1024,
        "when_full": "block",
        "block_timeout": 1.0,
    }
    async with opened(tmp_path, inst, **opts) as buf:
        accepted = 0
        while buf.offer(_incompressible(accepted)):
            accepted += 1
            await buf.commit(force=True)
        assert accepted > 50
        assert buf.status()["blocked"]
        with pytest.raises(BufferFullError, match="when_full = 'block'") as info:
            await buf.append(_incompressible(-1), durable=True)
        assert info.value.retry_after >= 1.0
        assert inst.dropped.total() == 0
        delivered = [i for b in await drain(buf) for i in record_ids(b)]
        await buf.append(_incompressible(10_000), durable=True)  # room again
    assert sorted(delivered) == list(range(accepted))


def _incompressible(i: int) -> Fragment:
    return incompressible_logs([i], 8000)


async def test_drop_oldest_evicts_bulk_before_normal(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """At the cap the oldest bulk data is dropped (and counted) while normal data is kept."""
    inst = instruments()
    opts = {"max_disk_bytes": 1024 * 1024, "segment_bytes": 64 * 1024}
    async with opened(tmp_path, inst, **opts) as buf:
        for i in range(40):
            assert buf.offer(_with_priority(_incompressible(i), Priority.NORMAL))
            await buf.commit(force=True)
        for i in range(100, 260):
            assert buf.offer(_with_priority(_incompressible(i), Priority.BULK))
            await buf.commit(force=True)
            assert directory_bytes(tmp_path) <= 1024 * 1024
        assert dropped(inst, "disk_budget") > 0
        batches = await drain(buf)
    normal = [i for b in batches if b.priority is Priority.NORMAL for i in record_ids(b)]
    bulk = [i for b in batches if b.priority is Priority.BULK for i in record_ids(b)]
    assert normal == list(range(40)), "normal data must survive while bulk is evicted"
    assert len(bulk) + dropped(inst, "disk_budget") == 160
    assert sorted(bulk) == list(range(260 - len(bulk), 260)), "the newest bulk data is kept"


def _with_priority(fragment: Fragment, priority: Priority) -> Fragment:
    return fragment.with_priority(priority)


async def test_second_process_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    """Two agents on one buffer directory would corrupt it: the second gets a clear error."""
    async with opened(tmp_path):
        expected = pytest.RaisesExc(StorageError, match="in use by another edge-agent process")
        with pytest.RaisesGroup(expected, flatten_subgroups=True):
            async with opened(tmp_path):
                pass


async def test_state_file_is_replaced_atomically(tmp_path: Path, io_clock: trio.testing.MockClock) -> None:
    """No temporary state file is left behind and the state decodes after every save."""
    from edge_agent.buffer.cursor import decode_state

    await write(tmp_path, [log_fragment(range(3))])
    assert not (tmp_path / (STATE_FILE + ".tmp")).exists()
    assert decode_state((tmp_path / STATE_FILE).read_bytes()).segments
    assert oct((tmp_path / STATE_FILE).stat().st_mode & 0o777) == "0o600"


async def test_signals_and_priorities_stay_apart(tmp_path: Path, io_clock: trio.testing.MockClock) -> None:
    """Each batch holds one signal and one priority; critical goes first."""
    async with opened(tmp_path) as buf:
        buf.offer(log_fragment([1], priority=Priority.BULK))
        buf.offer(log_fragment([2], priority=Priority.CRITICAL))
        buf.offer(log_fragment([3], priority=Priority.NORMAL))
        await buf.flush()
        batches = await drain(buf)
    assert [(b.priority, record_ids(b)) for b in batches] == [
        (Priority.CRITICAL, [2]),
        (Priority.NORMAL, [3]),
        (Priority.BULK, [1]),
    ]
    assert {b.signal for b in batches} == {Signal.LOGS}


async def test_batches_respect_max_bytes_after_a_burst(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A burst larger than commit_bytes becomes several frames; batches stay within max_bytes."""
    async with opened(tmp_path) as buf:
        for i in range(300):  # ~2.4 MB of small fragments offered without yielding
            assert buf.offer(incompressible_logs([i], 8000))
        await buf.flush()
        batches = await drain(buf, max_bytes=512 * 1024)
    assert all(b.raw_size <= 512 * 1024 for b in batches)
    assert len(batches) >= 5
    assert sorted(i for b in batches for i in record_ids(b)) == list(range(300))


async def _crash_copy(live: Path, crashed: Path) -> None:
    """What SIGKILL leaves: the directory as it is on disk right now, lock included."""
    import shutil

    await trio.to_thread.run_sync(shutil.copytree, live, crashed)
    (crashed / "lock").unlink()


async def _deliver(buf: DiskBuffer, batches: int) -> list[int]:
    delivered = []
    for _ in range(batches):
        batch = await buf.next_batch(max_bytes=600)
        delivered += record_ids(batch)
        buf.ack(batch)
    return delivered


async def _resent_after_crash(crashed: Path) -> list[int]:
    async with opened(crashed) as buf:
        return [i for b in await drain(buf) for i in record_ids(b)]


async def test_acks_reach_the_ack_log_with_the_next_commit(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """Acknowledgements ride along with the next commit's disk write: a crash right after that
    commit resends nothing that was acknowledged before it."""
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    await write(live, [log_fragment(range(i * 5, i * 5 + 5)) for i in range(6)])
    async with opened(live) as buf:
        delivered = await _deliver(buf, 3)
        await trio.sleep(1)  # well inside ACK_MAX_DELAY: nothing logged on its own yet
        await _crash_copy(live, tmp_path / "before")
        await buf.append(log_fragment([100]))
        await buf.commit(force=True)
        await _crash_copy(live, crashed)
    before = await _resent_after_crash(tmp_path / "before")
    assert sorted(before) == list(range(30)), "not logged yet: resent (duplicates, nothing lost)"
    resent = await _resent_after_crash(crashed)
    assert sorted(delivered + resent) == [*range(30), 100], "nothing acked is sent again, nothing lost"


async def test_acks_reach_the_ack_log_without_commits(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """With no commit to ride on, acknowledgements are logged within ACK_MAX_DELAY, or
    ACK_INTERVAL after ACK_MAX_PENDING of them gathered (a backlog being drained)."""
    live = tmp_path / "live"
    await write(live, [log_fragment(range(i * 5, i * 5 + 5)) for i in range(40)])
    async with opened(live) as buf:
        few = await _deliver(buf, 3)
        await trio.sleep(ACK_MAX_DELAY + 1)
        await _crash_copy(live, tmp_path / "late")
        many = await _deliver(buf, ACK_MAX_PENDING)
        await trio.sleep(ACK_INTERVAL * 2)
        await _crash_copy(live, tmp_path / "pending")
    late = await _resent_after_crash(tmp_path / "late")
    assert sorted(few + late) == list(range(200))
    pending = await _resent_after_crash(tmp_path / "pending")
    assert sorted(few + many + pending) == list(range(200))


async def test_self_metrics_follow_commits(tmp_path: Path, io_clock: trio.testing.MockClock) -> None:
    """commits, bytes written, fsync latency, bytes and frames on disk and the oldest age are reported."""
    inst = instruments()
    async with opened(tmp_path, inst) as buf:
        for i in range(3):
            await buf.append(log_fragment([i]), durable=True)
        await trio.sleep(5)
        status = buf.status()
    labels = {"signal": "logs", "priority": "normal"}
    assert inst.commits.total() >= 3
    assert inst.written.total() > 0
    (fsync,) = inst.fsync_latency.samples()
    assert fsync.count >= 3
    assert inst.disk_frames.value(**labels) == 3
    assert inst.disk_bytes.value(**labels) == status["disk_bytes"] > 0
    assert inst.oldest_age.value() > 0  # wall time here is real: the age of the first commit


async def test_fsync_interval_defers_the_fsync(tmp_path: Path, io_clock: trio.testing.MockClock) -> None:
    """With fsync = "interval" commits do not fsync; one fsync covers them after fsync_interval."""
    inst = instruments()
    async with opened(tmp_path, inst, fsync="interval", fsync_interval=10.0) as buf:
        await trio.sleep(11)  # past the start-up sync
        for i in range(3):
            await buf.append(log_fragment([i]), durable=True)  # returns after the write
        assert sum(s.count for s in inst.fsync_latency.samples()) == 0
        await trio.sleep(11)
        assert sum(s.count for s in inst.fsync_latency.samples()) == 1


async def test_drop_newest_keeps_old_data_and_counts_the_new(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Under drop_newest a full disk refuses new data of the same priority (counted), old data stays."""
    inst = instruments()
    opts = {"max_disk_bytes": 1024 * 1024, "segment_bytes": 64 * 1024, "when_full": "drop_newest"}
    async with opened(tmp_path, inst, **opts) as buf:
        for i in range(200):
            assert buf.offer(_incompressible(i))
            await buf.commit(force=True)
        kept = sorted(i for b in await drain(buf) for i in record_ids(b))
    assert dropped(inst, "disk_budget") == 200 - len(kept) > 0
    assert kept == list(range(len(kept))), "the oldest data is what stays"


async def test_a_writer_appending_in_a_tight_loop_lets_other_tasks_run(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """append() yields to the scheduler at least once per 64 KiB appended and is always cancellable,
    so a writer that never waits elsewhere cannot starve the committer or anyone else."""
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with opened(tmp_path, max_memory_bytes=64 * 1024 * 1024) as buf:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            await trio.lowlevel.checkpoint()
            fragment = incompressible_logs([1], 1000)
            appends = (1024 * 1024) // len(fragment.payload)
            before = ticks
            for _ in range(appends):
                await buf.append(fragment)
            # a yield per 64 KiB: 15 in this ~1 MiB, give or take where trio puts the other task in a batch
            assert ticks - before >= 13
            nursery.cancel_scope.cancel()
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await buf.append(fragment)


class _SlowFailingStore(SegmentStore):
    """Writes slowly (so the next commit compresses meanwhile) and fails one commit."""

    def __init__(self, directory: Path, fail_call: int) -> None:
        super().__init__(directory)
        self.calls = 0
        self.fail_call = fail_call
        self.flights_at_failure = 0
        self.committer: Any = None

    def execute(
        self, plan: CommitPlan, *, fsync: bool, state: bytes | None = None, acks: bytes | None = None
    ) -> CommitResult:
        self.calls += 1
        time.sleep(0.01)
        if self.calls == self.fail_call:
            deadline = time.monotonic() + 5.0
            while len(self.committer._flights) < 2 and time.monotonic() < deadline:
                time.sleep(0.001)  # until the writer's next commit is under way
            self.flights_at_failure = len(self.committer._flights)
            return CommitResult(error=OSError(errno.EIO, "injected"))
        return super().execute(plan, fsync=fsync, state=state, acks=acks)


async def test_overlapping_commits_keep_stream_order_through_a_failed_write(tmp_path: Path) -> None:
    """While one commit writes, the next compresses; when a write fails, the commit taken after it
    goes back behind the failed data, and everything reaches the disk once, oldest first."""
    inst = instruments()
    buf = DiskBuffer(
        config(commit_bytes=64 * 1024, max_memory_bytes=512 * 1024, commit_interval=0.2, replay="fifo"),
        tmp_path,
        inst,
    )
    store = _SlowFailingStore(tmp_path, fail_call=3)
    store.committer = buf._committer
    buf._s.store = store
    buf._reader._store = store
    ids = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        for _ in range(120):
            await buf.append(incompressible_logs(range(ids, ids + 5), 8000))
            ids += 5
        await buf.append(incompressible_logs(range(ids, ids + 5), 8000), durable=True)
        ids += 5
        await buf.flush()
        assert store.flights_at_failure == 2, "the failed write had a later commit under way"
        received = [i for batch in await drain(buf) for i in record_ids(batch)]
        nursery.cancel_scope.cancel()
    assert received == list(range(ids))
    assert inst.dropped.total() == 0


class _GatedStore(SegmentStore):
    """Holds every commit's write until the test opens the gate."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.writing = threading.Event()
        self.gate = threading.Event()

    def execute(
        self, plan: CommitPlan, *, fsync: bool, state: bytes | None = None, acks: bytes | None = None
    ) -> CommitResult:
        self.writing.set()
        self.gate.wait(10.0)
        return super().execute(plan, fsync=fsync, state=state, acks=acks)


async def test_records_being_committed_stay_queued(tmp_path: Path) -> None:
    """Between the moment a commit takes the open batches and the moment they are on disk, their
    records are still counted as queued: a drain or a status never sees them vanish."""
    buf = DiskBuffer(config(), tmp_path, instruments())
    store = _GatedStore(tmp_path)
    buf._s.store = store
    buf._reader._store = store
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        assert buf.offer(log_fragment(range(7)))
        nursery.start_soon(buf.commit)
        await trio.to_thread.run_sync(store.writing.wait, 10.0)
        assert buf.queued_records()["logs"] == 7  # taken by the commit, not yet written
        store.gate.set()
        await buf.flush()
        assert buf.queued_records()["logs"] == 7  # on disk now
        assert record_ids(await buf.next_batch(max_bytes=1 << 20)) == list(range(7))
        nursery.cancel_scope.cancel()
