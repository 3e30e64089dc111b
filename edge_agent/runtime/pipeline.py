"""The path from plugins into the buffer: priority stamping, processors and accounting.

Processors (redaction, filtering, enrichment) run here, between the plugins
and the buffer, only when configured and only for the plugin instances and
signals they select. Without them (or for data no processor selects) the
path stays bytes only: no parsing and no allocation beyond the envelope.
Processor counts are recorded only once the buffer has accepted the result,
so ``records.collected`` (counted before processing) always equals what was
buffered plus what the processors dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_agent.buffer.api import BufferWriter
from edge_agent.errors import BufferFullError
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.telemetry import Counter

if TYPE_CHECKING:
    from edge_agent.processors.api import Processor
    from edge_agent.processors.stage import ProcessorStage


@dataclass(frozen=True)
class PipelineCounters:
    collected: Counter  # labels: signal, plugin
    refused: Counter  # labels: signal, plugin (offer refused under backpressure)


class Pipeline:
    def __init__(
        self, writer: BufferWriter, counters: PipelineCounters, processors: ProcessorStage | None = None
    ) -> None:
        self._writer = writer
        self._counters = counters
        self._processors = processors

    @property
    def processors(self) -> ProcessorStage | None:
        return self._processors

    def set_processors(self, processors: ProcessorStage | None) -> None:
        """Install (or remove, with None) the processor stage; applies to the next fragment."""
        self._processors = processors

    def offer(self, fragment: Fragment, *, plugin: str, priority: Priority) -> bool:
        """Hand a scraped fragment to the buffer without waiting; False = refused (counted)."""
        fragment = self._stamp(fragment, priority)
        stage = self._processors
        if stage is not None:
            route = stage.route(plugin, fragment.signal)
            if route:
                return self._offer_processed(stage, route, fragment, plugin)
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
        stage = self._processors
        if stage is not None:
            route = stage.route(plugin, fragment.signal)
            if route:
                await self._submit_processed(stage, route, fragment, plugin, durable)
                return
        await self._append(fragment, fragment.records, plugin, durable)
        self._counters.collected.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)

    def _offer_processed(
        self, stage: ProcessorStage, route: tuple[Processor, ...], fragment: Fragment, plugin: str
    ) -> bool:
        # inline: offer() must not wait, and scraper fragments are small
        outcome = stage.run_inline(fragment, route)
        if outcome.fragment is not None and not self._writer.offer(outcome.fragment):
            self._counters.refused.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)
            return False
        stage.account(outcome, fragment)
        self._counters.collected.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)
        return True

    async def _submit_processed(
        self,
        stage: ProcessorStage,
        route: tuple[Processor, ...],
        fragment: Fragment,
        plugin: str,
        durable: bool,
    ) -> None:
        outcome = await stage.run(fragment, route)
        if outcome.fragment is not None:
            await self._append(outcome.fragment, fragment.records, plugin, durable)
        stage.account(outcome, fragment)
        self._counters.collected.inc(fragment.records, signal=fragment.signal.value, plugin=plugin)

    async def _append(self, fragment: Fragment, produced: int, plugin: str, durable: bool) -> None:
        """Append, counting a refusal as the ``produced`` records the plugin handed in."""
        try:
            await self._writer.append(fragment, durable=durable)
        except BufferFullError:
            self._counters.refused.inc(produced, signal=fragment.signal.value, plugin=plugin)
            raise

    @staticmethod
    def _stamp(fragment: Fragment, priority: Priority) -> Fragment:
        return fragment if fragment.priority is not None else fragment.with_priority(priority)
