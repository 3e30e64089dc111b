"""The path from plugins into the buffer: priority stamping and accounting.

Processors (redaction, filtering, enrichment) slot in here, between the
plugins and the buffer, when configured; without them the path is bytes
only.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.buffer.api import BufferWriter
from edge_agent.errors import BufferFullError
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.telemetry import Counter


@dataclass(frozen=True)
class PipelineCounters:
    collected: Counter  # labels: signal, plugin
    refused: Counter  # labels: signal, plugin (offer refused under backpressure)


class Pipeline:
    def __init__(self, writer: BufferWriter, counters: PipelineCounters) -> None:
        self._writer = writer
        self._counters = counters

    def offer(self, fragment: Fragment, *, plugin: str, priority: Priority) -> bool:
        """Hand a scraped fragment to the buffer without waiting; False = refused (counted)."""
        fragment = self._stamp(fragment, priority)
        if not self._writer.offer(fragment):
            self._counters.refused.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)
            return False
        self._counters.collected.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)
        return True

    async def submit(self, fragment: Fragment, *, plugin: str, priority: Priority, durable: bool) -> None:
        """Hand a received fragment to the buffer, waiting under backpressure.

        Raises :class:`~edge_agent.errors.BufferFullError` when the buffer refuses it (counted).
        """
        fragment = self._stamp(fragment, priority)
        try:
            await self._writer.append(fragment, durable=durable)
        except BufferFullError:
            self._counters.refused.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)
            raise
        self._counters.collected.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)

    @staticmethod
    def _stamp(fragment: Fragment, priority: Priority) -> Fragment:
        return fragment if fragment.priority is not None else fragment.with_priority(priority)
