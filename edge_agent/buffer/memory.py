"""A bounded in-memory buffer with drop-oldest, lowest priority first.

Used when no disk buffer is configured. Holding data only in memory means a
restart loses what is queued; every byte dropped for the memory bound is
counted per signal with reason ``memory_limit``.

``offer`` (scrapers) never waits: past the bound the oldest, least
important data is dropped. ``append`` (receivers and tailers, which can
slow their producer down) waits for room instead, so a log tailer reading a
big file from the beginning is paced by the exporter rather than dropping.

Batches are formed per signal by concatenating fragments (protobuf merges
repeated fields, see DESIGN.md), most important priority first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import trio

from edge_agent.buffer.api import Batch, Encoding
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.runtime.telemetry import Counter


@dataclass(frozen=True)
class _Held:
    fragments: tuple[Fragment, ...]


class MemoryBuffer:
    """Implements :class:`~edge_agent.buffer.api.ManagedBuffer` in memory."""

    kind = "memory"

    def __init__(self, max_bytes: int, dropped: Counter) -> None:
        self.max_bytes = max_bytes
        self._dropped = dropped
        self._queues: dict[tuple[Priority, Signal], deque[Fragment]] = {
            (p, s): deque() for p in Priority for s in Signal
        }
        self._bytes = 0
        self._in_flight_bytes = 0
        self._data_ready = trio.Event()
        self._settled = trio.Event()
        self._room = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Nothing to open or run in the background."""
        task_status.started()

    def use_wire_encoding(self, encoding: Encoding) -> None:
        """Memory batches are always ``identity``: the exporter compresses them."""

    async def flush(self) -> None:
        """Nothing to commit: memory is as durable as this buffer gets."""
        await trio.lowlevel.checkpoint()

    # -- writer ------------------------------------------------------------

    def offer(self, fragment: Fragment) -> bool:
        priority = fragment.priority if fragment.priority is not None else Priority.NORMAL
        self._queues[(priority, fragment.signal)].append(fragment)
        self._bytes += len(fragment.payload)
        self._enforce_bound()
        self._data_ready.set()
        return True

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:
        # Memory is never durable; "committed" here means "queued". Wait for
        # room (backpressure) unless the buffer is empty: a fragment larger
        # than the bound is still accepted alone rather than blocking forever.
        size = len(fragment.payload)
        while self._bytes + self._in_flight_bytes and (
            self._bytes + self._in_flight_bytes + size > self.max_bytes
        ):
            self._room = trio.Event()
            await self._room.wait()
        self.offer(fragment)
        await trio.lowlevel.checkpoint()

    def _enforce_bound(self) -> None:
        while self._bytes + self._in_flight_bytes > self.max_bytes:
            victim = self._oldest_least_important()
            if victim is None:
                return
            fragment = victim.popleft()
            self._bytes -= len(fragment.payload)
            self._dropped.inc(fragment.records, signal=fragment.signal.value, reason="memory_limit")
            self._room.set()

    def _oldest_least_important(self) -> deque[Fragment] | None:
        for priority in sorted(Priority, reverse=True):
            for signal in Signal:
                queue = self._queues[(priority, signal)]
                if queue:
                    return queue
        return None

    # -- reader ------------------------------------------------------------

    async def next_batch(self, *, max_bytes: int) -> Batch:
        while True:
            batch = self._take(max_bytes)
            if batch is not None:
                return batch
            self._data_ready = trio.Event()
            await self._data_ready.wait()

    def _take(self, max_bytes: int) -> Batch | None:
        for (priority, signal), queue in self._queues.items():
            if not queue:
                continue
            taken = [queue.popleft()]
            size = len(taken[0].payload)
            while queue and size + len(queue[0].payload) <= max_bytes:
                size += len(queue[0].payload)
                taken.append(queue.popleft())
            self._bytes -= size
            self._in_flight_bytes += size
            return self._batch(signal, priority, taken, size)
        return None

    @staticmethod
    def _batch(signal: Signal, priority: Priority, taken: list[Fragment], size: int) -> Batch:
        firsts = [f.first_ns for f in taken if f.first_ns]
        return Batch(
            signal=signal,
            body=b"".join(f.payload for f in taken),
            encoding="identity",
            records=sum(f.records for f in taken),
            raw_size=size,
            priority=priority,
            first_ns=min(firsts, default=0),
            last_ns=max((f.last_ns for f in taken), default=0),
            token=_Held(tuple(taken)),
        )

    def ack(self, batch: Batch) -> None:
        self._in_flight_bytes -= batch.raw_size
        self._settled.set()
        self._room.set()

    def drop(self, batch: Batch, reason: str) -> None:
        self._in_flight_bytes -= batch.raw_size
        self._dropped.inc(batch.records, signal=batch.signal.value, reason=reason)
        self._settled.set()
        self._room.set()

    def release(self, batch: Batch) -> None:
        assert isinstance(batch.token, _Held)
        self._in_flight_bytes -= batch.raw_size
        queue = self._queues[(batch.priority, batch.signal)]
        queue.extendleft(reversed(batch.token.fragments))
        self._bytes += batch.raw_size
        self._enforce_bound()
        self._data_ready.set()

    async def wait_drained(self) -> None:
        """Return once nothing is queued or in flight."""
        while self._bytes or self._in_flight_bytes:
            self._settled = trio.Event()
            await self._settled.wait()

    # -- statistics --------------------------------------------------------

    def queued_bytes(self) -> int:
        return self._bytes

    def in_flight_bytes(self) -> int:
        return self._in_flight_bytes

    def queued_records(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Signal}
        for (_, signal), queue in self._queues.items():
            counts[signal.value] += sum(f.records for f in queue)
        return counts

    def status(self) -> dict[str, object]:
        return {
            "kind": "memory",
            "bytes": self.queued_bytes(),
            "max_bytes": self.max_bytes,
            "records": self.queued_records(),
        }
