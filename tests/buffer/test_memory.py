"""MemoryBuffer: append waits for room (backpressure); offer drops the oldest past the bound."""

from __future__ import annotations

import trio

from edge_agent import Fragment, Signal
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.runtime.telemetry import Registry


def _buffer(max_bytes: int) -> tuple[MemoryBuffer, object]:
    dropped = Registry().counter("records.dropped", "d", labels=("signal", "reason"))
    return MemoryBuffer(max_bytes, dropped), dropped


def _frag(size: int) -> Fragment:
    return Fragment(Signal.LOGS, b"x" * size, 1)


async def test_append_waits_for_room_and_drops_nothing() -> None:
    """An append that would overflow waits until the exporter acks, then goes in; nothing is dropped."""
    buffer, dropped = _buffer(1000)
    await buffer.append(_frag(600))
    done = trio.Event()

    async def second() -> None:
        await buffer.append(_frag(600))
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        batch = await buffer.next_batch(max_bytes=10_000)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()  # in flight still counts against the bound
        buffer.ack(batch)
        await trio.testing.wait_all_tasks_blocked()
        assert done.is_set()
    assert buffer.queued_records()["logs"] == 1
    assert dropped.total() == 0  # type: ignore[attr-defined]


async def test_append_of_an_oversized_fragment_does_not_block() -> None:
    """A fragment bigger than the whole bound never waits forever: it is dropped and counted."""
    buffer, dropped = _buffer(100)
    with trio.fail_after(1):
        await buffer.append(_frag(500))
    assert dropped.value(signal="logs", reason="memory_limit") == 1  # type: ignore[attr-defined]


def test_offer_drops_oldest_past_the_bound() -> None:
    """offer never waits: the oldest data goes and is counted with reason memory_limit."""
    buffer, dropped = _buffer(1000)
    for _ in range(3):
        buffer.offer(_frag(400))
    assert buffer.queued_bytes() == 800
    assert dropped.value(signal="logs", reason="memory_limit") == 1  # type: ignore[attr-defined]
