"""Helpers for tests that run the real disk buffer on real files."""

from __future__ import annotations

import gzip
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from edge_agent.buffer.api import Batch
from edge_agent.buffer.config import BufferConfig
from edge_agent.buffer.disk import DiskBuffer
from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.runtime.telemetry import Registry
from edge_agent.testing import count_records, decode_request

RESOURCE = attributes.resource({"service.name": "buffer-test"})
SCOPE = attributes.scope("tests.buffer", "1")


async def poll_until(predicate: Callable[[], bool], interval: float = 0.05) -> None:
    """Check ``predicate`` every ``interval`` until it holds (wrap in fail_after)."""
    while True:
        if predicate():
            return
        await trio.sleep(interval)


def instruments() -> BufferInstruments:
    reg = Registry()
    return BufferInstruments.create(reg, reg.counter("records.dropped", "", labels=("signal", "reason")))


def config(**overrides: Any) -> BufferConfig:
    return BufferConfig(**overrides)


def log_fragment(
    ids: range | list[int], *, priority: Priority = Priority.NORMAL, pad: int = 0, t: int = 0
) -> Fragment:
    """Real OTLP logs, one record per id (the body carries the id, so tests can find it again)."""
    builder = LogsBuilder(RESOURCE, SCOPE)
    for i in ids:
        builder.record(f"record {i} " + "x" * pad, time_ns=t or 1_700_000_000_000_000_000 + i)
    return builder.build().with_priority(priority)


def incompressible_logs(
    ids: range | list[int], junk: int, *, priority: Priority = Priority.NORMAL
) -> Fragment:
    """Real OTLP logs plus ``junk`` random bytes in an unknown field (parsers skip it; gzip cannot shrink it)."""
    fragment = log_fragment(ids, priority=priority)
    data = os.urandom(junk)
    extra = bytes([0x7A]) + _varint(len(data)) + data  # field 15, length-delimited
    return Fragment(
        fragment.signal,
        fragment.payload + extra,
        fragment.records,
        fragment.first_ns,
        fragment.last_ns,
        priority,
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def record_ids(batch: Batch) -> list[int]:
    """The ids carried by a batch's log records (decoding the body like an upstream would)."""
    body = gzip.decompress(batch.body) if batch.encoding == "gzip" else batch.body
    message = decode_request(batch.signal, body)
    assert count_records(batch.signal, message) == batch.records
    return [
        int(rec.body.string_value.split()[1])
        for rl in message.resource_logs
        for sl in rl.scope_logs
        for rec in sl.log_records
    ]


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def directory_bytes(directory: Path) -> int:
    """Every byte the buffer directory holds (segments, state, anything else)."""
    total = 0
    for entry in os.scandir(directory):
        try:
            total += entry.stat().st_size
        except FileNotFoundError:
            pass  # deleted by the buffer while we looked: it holds nothing any more
    return total


def dropped(inst: BufferInstruments, reason: str, signal: Signal = Signal.LOGS) -> float:
    return inst.dropped.value(signal=signal.value, reason=reason)


@asynccontextmanager
async def opened(
    directory: Path, inst: BufferInstruments | None = None, **overrides: Any
) -> AsyncIterator[DiskBuffer]:
    """A started disk buffer on ``directory``, stopped (and flushed) on exit."""
    buf = DiskBuffer(config(**overrides), directory, inst or instruments())
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        try:
            yield buf
        finally:
            nursery.cancel_scope.cancel()


async def drain(buf: DiskBuffer, *, max_bytes: int = 512 * 1024) -> list[Batch]:
    """Take and acknowledge batches until nothing is left to send."""
    batches = []
    while any(buf.queued_records().values()):
        batch = await buf.next_batch(max_bytes=max_bytes)
        buf.ack(batch)
        batches.append(batch)
    return batches


async def write(directory: Path, fragments: list[Fragment], **overrides: Any) -> None:
    """Append ``fragments`` with a real buffer, one commit (one frame) each, then stop it cleanly."""
    async with opened(directory, **overrides) as buf:
        for fragment in fragments:
            await buf.append(fragment)
            await buf.commit(force=True)
