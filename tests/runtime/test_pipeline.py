"""The pipeline with processors: what reaches the buffer, and counters that add up."""

from __future__ import annotations

import logging

import pytest
import trio

from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.processors.chain import ProcessorChain, Selection
from edge_agent.processors.filter import RecordFilter
from edge_agent.processors.presets import Rule, expand
from edge_agent.processors.records import parse
from edge_agent.processors.redact import Redactor
from edge_agent.processors.stage import THREAD_THRESHOLD, ProcessorCounters, ProcessorStage
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline
from tests.processors.helpers import log_records, logs


class _Writer:
    """A buffer writer that records what it got and can refuse offers."""

    def __init__(self, *, accept: bool = True) -> None:
        self.accept = accept
        self.fragments: list[Fragment] = []

    def offer(self, fragment: Fragment) -> bool:
        if self.accept:
            self.fragments.append(fragment)
        return self.accept

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:
        self.fragments.append(fragment)
        await trio.lowlevel.checkpoint()


def _setup(writer: object, *, plugins: tuple[str, ...] = ("*",)) -> tuple[Pipeline, AgentInstruments]:
    instruments = AgentInstruments.create()
    rules = tuple(Rule.from_preset(p) for p in expand(("email",)))
    chain = ProcessorChain(
        [
            (Redactor("scrub", keys=(), rules=rules, template="***"), Selection(plugins=plugins)),
            (RecordFilter("no_debug", severity_max=8), Selection(plugins=plugins)),
        ]
    )
    stage = ProcessorStage(chain, ProcessorCounters.register(instruments.registry, instruments.dropped))
    return Pipeline(writer, instruments.pipeline, stage), instruments  # type: ignore[arg-type]


def _sample() -> Fragment:
    return logs(("from a@b.io", None, 9), ("debug", None, 5), ("fine", None, 9))


def test_offer_buffers_the_processed_fragment_and_counts_consistently() -> None:
    """collected (before processing) = buffered + filtered; redactions are counted per rule."""
    writer = _Writer()
    pipeline, instruments = _setup(writer)
    assert pipeline.offer(_sample(), plugin="filelog", priority=Priority.NORMAL)
    (buffered,) = writer.fragments
    assert buffered.records == 2 and buffered.priority is Priority.NORMAL
    assert [r.body.string_value for r in log_records(parse(Signal.LOGS, buffered.payload))] == [
        "from ***",
        "fine",
    ]
    reg = instruments.registry
    assert instruments.pipeline.collected.value(signal="logs", plugin="filelog") == 3
    assert instruments.dropped.value(signal="logs", reason="filtered") == 1
    counters = {s.name: s for s in reg.collect()}
    assert counters["processor.dropped"].samples[0].value == 1
    assert counters["processor.redacted"].samples[0].labels == {
        "processor": "scrub",
        "signal": "logs",
        "rule": "email",
    }


def test_refused_offer_counts_the_original_records_and_no_processor_effects() -> None:
    """When the buffer refuses, the plugin's records are counted refused and nothing as filtered."""
    writer = _Writer(accept=False)
    pipeline, instruments = _setup(writer)
    assert not pipeline.offer(_sample(), plugin="filelog", priority=Priority.NORMAL)
    assert instruments.pipeline.refused.value(signal="logs", plugin="filelog") == 3
    assert instruments.dropped.value(signal="logs", reason="filtered") == 0


def test_unselected_plugins_take_the_bytes_only_path() -> None:
    """Data of a plugin no processor selects reaches the buffer as the very same bytes."""
    writer = _Writer()
    pipeline, _ = _setup(writer, plugins=("otlp",))
    fragment = _sample()
    pipeline.offer(fragment, plugin="filelog", priority=Priority.NORMAL)
    assert writer.fragments[0].payload is fragment.payload


async def test_submit_processes_large_fragments_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fragment above the thread threshold is processed off the event loop and still buffered right."""
    writer = _Writer()
    pipeline, instruments = _setup(writer)
    big = logs(*[(f"line {i} mail x{i}@example.com " + "y" * 200, None, 9) for i in range(400)])
    assert len(big.payload) > THREAD_THRESHOLD
    threads: list[str] = []
    original = trio.to_thread.run_sync

    async def spy(*args: object, **kwargs: object) -> object:
        threads.append("used")
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trio.to_thread, "run_sync", spy)
    await pipeline.submit(big, plugin="otlp", priority=Priority.NORMAL, durable=True)
    assert threads == ["used"]
    assert writer.fragments[0].records == 400
    counters = {s.name: s for s in instruments.registry.collect()}
    assert counters["processor.redacted"].samples[0].value == 400


async def test_failed_processing_drops_counts_and_logs_without_data(caplog: pytest.LogCaptureFixture) -> None:
    """An unparseable fragment is dropped (processor_error), logged once with its type, never its bytes."""
    writer = _Writer()
    pipeline, instruments = _setup(writer)
    bad = Fragment(Signal.LOGS, b"\x0a\x05secret", 2)
    with caplog.at_level(logging.ERROR, logger="edge_agent.processors"):
        await pipeline.submit(bad, plugin="otlp", priority=Priority.NORMAL, durable=False)
        await pipeline.submit(bad, plugin="otlp", priority=Priority.NORMAL, durable=False)
    assert not writer.fragments
    assert instruments.dropped.value(signal="logs", reason="processor_error") == 4
    assert len(caplog.records) == 1  # rate-limited
    assert "DecodeError" in caplog.text and "secret" not in caplog.text


async def test_memory_buffer_receives_processed_data_end_to_end() -> None:
    """With the real memory buffer, the queued record count is the processed one."""
    instruments = AgentInstruments.create()
    buffer = MemoryBuffer(1 << 20, instruments.dropped)
    pipeline, _ = _setup(buffer)
    await pipeline.submit(_sample(), plugin="otlp", priority=Priority.NORMAL, durable=True)
    assert buffer.queued_records()["logs"] == 2
