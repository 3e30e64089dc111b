"""What a processor is: a named, synchronous transformation of one parsed OTLP request.

Processors are sans-IO and thread-safe: the pipeline may run them in a
worker thread for large fragments, so they keep no mutable state between
calls. Everything they want counted goes into the :class:`Tally` of the
call, which the pipeline turns into self-metrics on the event loop, and only
once the buffer has accepted the result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge_agent.otlp.fragment import Signal

SELF_TELEMETRY = "self_telemetry"  # the agent's own metrics: selected by this exact name only


@dataclass
class Tally:
    """What one pass over a fragment did; ``changed`` says whether it must be re-serialized."""

    dropped: Counter[str] = field(default_factory=Counter)  # processor -> records removed
    redacted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (processor, rule) -> values
    changed: bool = False

    def drop(self, processor: str, records: int) -> None:
        if records:
            self.dropped[processor] += records
            self.changed = True

    def redact(self, processor: str, rule: str, values: int = 1) -> None:
        if values:
            self.redacted[processor, rule] += values
            self.changed = True


class Processor(Protocol):
    """One configured processor instance."""

    @property
    def name(self) -> str:
        """The instance name (the key under ``[processors]``), used in self-metrics."""
        ...

    def supports(self, signal: Signal) -> bool:
        """Whether it has anything to do for ``signal`` (a metric-name filter skips logs entirely)."""
        ...

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        """Transform ``message`` (a fresh ``Export*ServiceRequest``) in place; record what it did."""
        ...
