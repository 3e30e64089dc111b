"""Counting and reporting dropped records: a counter always, a log line at a bounded rate.

Every record the buffer gives up is counted in ``records.dropped`` with its
signal and a reason. The log line that goes with it is rate-limited per
reason (one line per ``interval``, summing what was dropped since the last
line), so a device shedding data for hours does not also fill its journal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.telemetry import Counter

REASON_HELP = {
    "disk_budget": "buffer.max_disk_bytes was reached; raise it or collect less",
    "corrupt": "stored data failed its checksum or did not decode",
    "torn_write": "a commit was interrupted by a crash or power loss",
    "segment_missing": "a segment file disappeared from the buffer directory",
    "shutdown": "the disk was full at shutdown under when_full = 'block'",
}


@dataclass
class _Pending:
    records: int = 0
    by_signal: dict[str, int] = field(default_factory=dict)
    last_logged: float = float("-inf")
    detail: str = ""


class DropRecorder:
    def __init__(
        self,
        counter: Counter,
        logger: logging.Logger,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counter = counter
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    def record(self, signal: Signal, reason: str, records: int, detail: str = "") -> None:
        """Count ``records`` dropped; log (now or later) with ``detail`` saying where."""
        if records <= 0:
            return
        self._counter.inc(records, signal=signal.value, reason=reason)
        pending = self._pending.setdefault(reason, _Pending())
        pending.records += records
        pending.by_signal[signal.value] = pending.by_signal.get(signal.value, 0) + records
        pending.detail = detail or pending.detail
        now = self._clock()
        if now - pending.last_logged >= self._interval:
            self._emit(reason, pending, now)

    def _emit(self, reason: str, pending: _Pending, now: float) -> None:
        signals = ", ".join(f"{n} {s}" for s, n in sorted(pending.by_signal.items()))
        hint = REASON_HELP.get(reason, "")
        self._log.warning(
            "buffer dropped %s record(s) (reason %s%s%s)%s",
            signals,
            reason,
            f": {pending.detail}" if pending.detail else "",
            f"; {hint}" if hint else "",
            "" if pending.last_logged == float("-inf") else f" [summed over the last {self._interval:.0f}s]",
        )
        pending.records = 0
        pending.by_signal.clear()
        pending.last_logged = now

    def flush(self) -> None:
        """Log whatever is still unreported (at shutdown)."""
        for reason, pending in self._pending.items():
            if pending.records:
                self._emit(reason, pending, self._clock())
