"""The downsampler in front of the buffer: holds low-priority metrics while degraded, folds them per window.

A :class:`DownsamplingWriter` implements the buffer's writer interface and
sits between the pipeline and the buffer. While the controller has set a
priority *cutoff* (offline: ``bulk``; disk pressure: ``normal`` and
``bulk``), metric fragments at or below it are held instead of written; a
window (``adaptive.downsample.window``, or ``disk_pressure_window``) later they are folded into one
aggregate fragment (:func:`~edge_agent.adaptive.downsample.fold_metrics`)
that goes to the buffer. Everything else passes straight through, as do
durable appends (their writer waits for a commit it must not be denied).

Bounded: past ``max_held_bytes`` new fragments pass through unfolded and
the window is closed early. Folding a large window runs in a worker thread.
When the cutoff is lifted (the agent recovered) everything held is folded
and written at once. Accounting stays exact: the points folded away are
counted in ``edge_agent.records.folded{signal}``, so collected =
exported + dropped + queued + held + downsampled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from edge_agent.adaptive.config import DownsampleConfig
from edge_agent.adaptive.downsample import Folded, fold_metrics
from edge_agent.buffer.api import BufferWriter
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.runtime.telemetry import Counter

log = logging.getLogger("edge_agent.adaptive")

_THREAD_FOLD_BYTES = 64 * 1024  # larger windows are folded off the event loop


@dataclass
class _Window:
    started: float
    fragments: list[Fragment] = field(default_factory=list)
    size: int = 0
    records: int = 0


class DownsamplingWriter:
    """Implements :class:`~edge_agent.buffer.api.BufferWriter` around ``inner``."""

    def __init__(
        self,
        inner: BufferWriter,
        config: DownsampleConfig,
        *,
        clock: Callable[[], float],
        downsampled: Counter,
        dropped: Counter,
    ) -> None:
        self.inner = inner
        self.config = config
        self._clock = clock
        self._downsampled = downsampled
        self._dropped = dropped
        self.cutoff: Priority | None = None
        self.window = float(config.window)
        self._windows: dict[Priority, _Window] = {}
        self._wake = trio.Event()
        self.windows_folded = 0

    # -- writer interface --------------------------------------------------

    def offer(self, fragment: Fragment) -> bool:
        if self._holds(fragment):
            self._hold(fragment)
            return True
        return self.inner.offer(fragment)

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:
        if not durable and self._holds(fragment):
            self._hold(fragment)
            await trio.lowlevel.checkpoint()
            return
        await self.inner.append(fragment, durable=durable)

    def _holds(self, fragment: Fragment) -> bool:
        if self.cutoff is None or fragment.signal is not Signal.METRICS:
            return False
        priority = fragment.priority if fragment.priority is not None else Priority.NORMAL
        return priority >= self.cutoff and self.held_bytes() < self.config.max_held_bytes

    def _hold(self, fragment: Fragment) -> None:
        priority = fragment.priority if fragment.priority is not None else Priority.NORMAL
        window = self._windows.get(priority)
        if window is None:
            window = self._windows[priority] = _Window(self._clock())
            self._wake.set()  # the flusher learns about the new window's deadline
        window.fragments.append(fragment)
        window.size += len(fragment.payload)
        window.records += fragment.records
        if self.held_bytes() >= self.config.max_held_bytes:
            self._wake.set()  # close early: the bound is reached

    # -- control -----------------------------------------------------------

    def set_cutoff(self, cutoff: Priority | None, window: float | None = None) -> None:
        """Hold metrics at ``cutoff`` or less important from now on, folding every ``window``
        seconds (default ``config.window``); ``None``: hold nothing."""
        window = float(self.config.window if window is None else window)
        if (cutoff, window) != (self.cutoff, self.window):
            self.cutoff, self.window = cutoff, window
            self._wake.set()  # windows that no longer qualify are flushed at once

    def held_bytes(self) -> int:
        return sum(w.size for w in self._windows.values())

    def held_records(self) -> int:
        return sum(w.records for w in self._windows.values())

    def _due(self, now: float) -> list[Priority]:
        full = self.held_bytes() >= self.config.max_held_bytes
        return [
            p
            for p, w in self._windows.items()
            if full or self.cutoff is None or p < self.cutoff or now - w.started >= self.window
        ]

    def _next_deadline(self) -> float:
        return min((w.started + self.window for w in self._windows.values()), default=math.inf)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fold and write windows as they come due, until cancelled (then flush what is held)."""
        task_status.started()
        try:
            while True:
                self._wake = trio.Event()
                for priority in self._due(self._clock()):
                    await self._flush(priority)
                with trio.move_on_at(self._next_deadline()):
                    await self._wake.wait()
        finally:
            with trio.CancelScope(shield=True):
                for priority in list(self._windows):
                    await self._flush(priority, in_thread=False)

    async def flush_all(self) -> None:
        """Fold and write every window now (shutdown: before the buffer drains)."""
        for priority in list(self._windows):
            await self._flush(priority)

    async def _flush(self, priority: Priority, *, in_thread: bool = True) -> None:
        window = self._windows.pop(priority)
        payloads = [f.payload for f in window.fragments]
        try:
            if in_thread and window.size >= _THREAD_FOLD_BYTES:
                folded = await trio.to_thread.run_sync(fold_metrics, payloads)
            else:
                folded = fold_metrics(payloads)
        except Exception as exc:  # a payload that does not decode: never lose it, send it as it came
            log.warning("cannot downsample %d metric fragments (%s); sent unchanged", len(payloads), exc)
            for fragment in window.fragments:
                self._write(fragment, fragment.records)
            return
        self.windows_folded += 1
        self._downsampled.inc(folded.points_in - folded.points_out, signal=Signal.METRICS.value)
        self._write(_fragment(folded, priority), folded.points_out)

    def _write(self, fragment: Fragment, records: int) -> None:
        if not self.inner.offer(fragment):
            self._dropped.inc(records, signal=fragment.signal.value, reason="backpressure")


def _fragment(folded: Folded, priority: Priority) -> Fragment:
    return Fragment(
        Signal.METRICS, folded.payload, folded.points_out, folded.first_ns, folded.last_ns, priority
    )
