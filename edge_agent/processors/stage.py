"""The thin shell around a :class:`~edge_agent.processors.chain.ProcessorChain` in the pipeline.

It decides where the CPU work runs (inline for small fragments, a worker
thread above ``THREAD_THRESHOLD`` bytes when the caller can wait), turns each
:class:`~edge_agent.processors.chain.Outcome` into self-metrics on the event
loop, and logs processor failures at most once per 10 s per processor.

Self-metrics (all counters):

* ``records.dropped{signal, reason="filtered"}`` and
  ``{reason="processor_error"}`` -- the agent-wide loss counter,
* ``processor.dropped{processor, signal}`` -- records each filter removed,
* ``processor.redacted{processor, signal, rule}`` -- values each redaction
  replaced, per rule (preset, pattern name, or ``key``),
* ``processor.errors{processor, signal}`` -- fragments dropped because a
  processor failed or the fragment did not parse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import trio

from edge_agent.otlp.fragment import Fragment, Signal
from edge_agent.processors.api import Processor
from edge_agent.processors.chain import Outcome, ProcessorChain
from edge_agent.runtime.telemetry import Counter, Registry

log = logging.getLogger("edge_agent.processors")

THREAD_THRESHOLD = 64 * 1024  # bytes; smaller fragments are processed inline (thread hop ~50 us)
_WARN_EVERY = 10.0


@dataclass(frozen=True)
class ProcessorCounters:
    dropped: Counter  # records.dropped: signal, reason
    processor_dropped: Counter  # processor, signal
    redacted: Counter  # processor, signal, rule
    errors: Counter  # processor, signal

    @classmethod
    def register(cls, registry: Registry, dropped: Counter) -> ProcessorCounters:
        return cls(
            dropped=dropped,
            processor_dropped=registry.counter(
                "processor.dropped", "records removed by filter processors", labels=("processor", "signal")
            ),
            redacted=registry.counter(
                "processor.redacted",
                "values replaced by redact processors, per rule",
                labels=("processor", "signal", "rule"),
            ),
            errors=registry.counter(
                "processor.errors",
                "fragments dropped because a processor failed on them",
                labels=("processor", "signal"),
            ),
        )


class ProcessorStage:
    def __init__(self, chain: ProcessorChain, counters: ProcessorCounters) -> None:
        self.chain = chain
        self._counters = counters
        self._last_warning: dict[str, float] = {}

    def route(self, plugin: str, signal: Signal) -> tuple[Processor, ...]:
        return self.chain.route(plugin, signal)

    def run_inline(self, fragment: Fragment, route: tuple[Processor, ...]) -> Outcome:
        return self.chain.run(fragment, route)

    async def run(self, fragment: Fragment, route: tuple[Processor, ...]) -> Outcome:
        """Like :meth:`run_inline`, off the event loop for large fragments."""
        if len(fragment.payload) > THREAD_THRESHOLD:
            return await trio.to_thread.run_sync(self.chain.run, fragment, route)
        return self.chain.run(fragment, route)

    def account(self, outcome: Outcome, original: Fragment) -> None:
        """Count what the processors did; call once the buffer has accepted the result."""
        signal = original.signal.value
        if outcome.failed:
            self._counters.errors.inc(processor=outcome.failed, signal=signal)
            self._counters.dropped.inc(original.records, signal=signal, reason="processor_error")
            self._warn_failure(outcome, original)
            return
        tally = outcome.tally
        for processor, records in tally.dropped.items():
            self._counters.processor_dropped.inc(records, processor=processor, signal=signal)
            self._counters.dropped.inc(records, signal=signal, reason="filtered")
        for (processor, rule), values in tally.redacted.items():
            self._counters.redacted.inc(values, processor=processor, signal=signal, rule=rule)

    def _warn_failure(self, outcome: Outcome, original: Fragment) -> None:
        now = trio.current_time()
        if now - self._last_warning.get(outcome.failed, -_WARN_EVERY) < _WARN_EVERY:
            return
        self._last_warning[outcome.failed] = now
        what = "did not parse" if outcome.failed == "parse" else f"made processor {outcome.failed} fail"
        # only the exception type: its message may quote the data being protected
        log.error(
            "a %s fragment %s (%s); its %d records were dropped, not forwarded unprocessed "
            "(counted in records.dropped{reason=processor_error}; repeats within %gs are not logged)",
            original.signal.value,
            what,
            outcome.error,
            original.records,
            _WARN_EVERY,
        )
