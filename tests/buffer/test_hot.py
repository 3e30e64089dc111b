"""Just-committed frames go to the exporter from memory, once; everything else comes from disk."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from edge_agent.buffer.frames import Envelope
from edge_agent.buffer.hot import HotFrames
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE, FrameRef
from edge_agent.otlp.fragment import Priority, Signal
from tests.buffer.helpers import instruments, log_fragment, opened, record_ids


def _frame(seq: int, offset: int, size: int) -> tuple[FrameRef, Envelope]:
    ref = FrameRef(seq, offset, size + 40, 1, size)
    return ref, Envelope(Signal.LOGS, Priority.NORMAL, 1, 0, 0, "identity", size, b"x" * size)


def test_take_is_all_or_nothing_and_once() -> None:
    hot = HotFrames()
    (a, ea), (b, eb), (c, _) = _frame(1, 0, 10), _frame(1, 50, 10), _frame(2, 0, 10)
    hot.remember(a, ea)
    hot.remember(b, eb)
    assert hot.take([a, c]) is None  # c was never remembered: read all of them from disk
    assert hot.take([a, b]) == [ea, eb]
    assert hot.take([a]) is None and len(hot) == 0 and hot.bytes == 0


def test_a_different_frame_at_the_same_place_is_not_served() -> None:
    hot = HotFrames()
    ref, envelope = _frame(1, 0, 10)
    hot.remember(ref, envelope)
    other, _ = _frame(1, 0, 20)
    assert hot.take([other]) is None


def test_bounded_oldest_out_and_forget() -> None:
    hot = HotFrames(max_bytes=100)
    frames = [_frame(1, i * 100, 30) for i in range(5)]
    for ref, envelope in frames:
        hot.remember(ref, envelope)
    assert hot.bytes == 90 and len(hot) == 3
    assert hot.take([frames[0][0]]) is None  # evicted: the reader goes to the disk
    assert hot.take([frames[4][0]]) == [frames[4][1]]
    hot.forget(1)
    assert len(hot) == 0 and hot.bytes == 0
    big, envelope = _frame(3, 0, 101)
    hot.remember(big, envelope)  # larger than the whole cache: not kept
    assert len(hot) == 0


async def test_fresh_frames_come_from_memory_retries_from_disk(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """The first read of a just-committed frame does not touch the segment (zeroing the file
    does not matter); once released after a failed delivery it is read back, and found damaged."""
    inst = instruments()
    async with opened(tmp_path, inst) as buf:
        await buf.append(log_fragment(range(5)))
        await buf.commit(force=True)
        (segment,) = tmp_path.glob("*.seg")
        size = segment.stat().st_size
        segment.write_bytes(segment.read_bytes()[:SEGMENT_HEADER_SIZE] + bytes(size - SEGMENT_HEADER_SIZE))
        batch = await buf.next_batch(max_bytes=1 << 20)
        assert record_ids(batch) == list(range(5))
        buf.release(batch)  # the upstream failed: the frame is sent again, from disk this time
        await buf.append(log_fragment([9]))
        await buf.commit(force=True)
        retried = await buf.next_batch(max_bytes=1 << 20)
        assert record_ids(retried) == [9]
        buf.ack(retried)
    assert inst.dropped.value(signal="logs", reason="corrupt") == 5
