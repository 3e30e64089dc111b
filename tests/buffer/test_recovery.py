"""Corruption corpus: whatever happened to the files, the buffer starts, keeps every intact
record, and counts what it lost by reason (exactly, whenever the records are knowable)."""

from __future__ import annotations

import os
from pathlib import Path

import cbor2
import pytest
import trio
import trio.testing

from edge_agent.buffer.scan import ScannedFrame, scan_bytes
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE
from edge_agent.buffer.store import STATE_FILE
from edge_agent.otlp.fragment import Signal
from tests.buffer.helpers import (
    drain,
    dropped,
    incompressible_logs,
    instruments,
    opened,
    record_ids,
    segment_files,
    write,
)

OPTS = {"segment_bytes": 64 * 1024, "commit_bytes": 64 * 1024}
PER_FRAME = 4  # records per frame
FRAMES = 30


@pytest.fixture
async def written(tmp_path: Path, io_clock: trio.testing.MockClock) -> Path:
    """A buffer of 30 frames of 4 records (ids 0..119) across several 64 KiB segments."""
    fragments = [incompressible_logs(range(i * PER_FRAME, (i + 1) * PER_FRAME), 6000) for i in range(FRAMES)]
    await write(tmp_path, fragments, **OPTS)
    assert len(segment_files(tmp_path)) >= 3
    return tmp_path


def _frames(path: Path) -> list[ScannedFrame]:
    events = scan_bytes(path.read_bytes()[SEGMENT_HEADER_SIZE:], SEGMENT_HEADER_SIZE)
    return [e for e in events if isinstance(e, ScannedFrame)]


async def _reopen(directory: Path) -> tuple[list[int], object]:
    inst = instruments()
    async with opened(directory, inst, **OPTS) as buf:
        batches = await drain(buf)
        await buf.flush()
    return sorted(i for b in batches for i in record_ids(b)), inst


def _spoil(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


ALL = list(range(FRAMES * PER_FRAME))


async def test_clean_restart_resends_everything_once(written: Path) -> None:
    """Baseline: nothing damaged, every record comes back, nothing counted as dropped."""
    ids, inst = await _reopen(written)
    assert ids == ALL
    assert inst.dropped.total() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("keep_state", [True, False])
async def test_zeroed_block_inside_a_frame_loses_only_that_frame(written: Path, keep_state: bool) -> None:
    """A zeroed 4 KiB block inside one frame's body: that frame is counted, every other arrives."""
    seg = segment_files(written)[1]
    frame = _frames(seg)[1]
    _spoil(seg, frame.offset + 100, bytes(4096))
    if not keep_state:
        (written / STATE_FILE).unlink()
    ids, inst = await _reopen(written)
    assert dropped(inst, "corrupt") == PER_FRAME  # type: ignore[arg-type]
    assert len(ids) == len(ALL) - PER_FRAME
    assert inst.corrupt_bytes.total() == frame.header.frame_length  # type: ignore[attr-defined]


async def test_zeroed_block_across_a_header_is_counted_from_the_state(written: Path) -> None:
    """Zeroes over a frame header: the frame cannot be found, but the state knew its records."""
    seg = segment_files(written)[0]
    frames = _frames(seg)
    _spoil(seg, frames[2].offset - 50, bytes(200))  # end of frame 1 and header of frame 2
    ids, inst = await _reopen(written)
    assert len(ids) == len(ALL) - 2 * PER_FRAME
    assert dropped(inst, "corrupt") == 2 * PER_FRAME  # type: ignore[arg-type]


async def test_torn_tail_is_truncated_and_its_records_counted(written: Path) -> None:
    """The last segment cut in the middle of its last frame: truncated on start, the torn frame counted."""
    seg = segment_files(written)[-1]
    last = _frames(seg)[-1]
    os.truncate(seg, last.offset + 100)
    ids, inst = await _reopen(written)
    assert len(ids) == len(ALL) - PER_FRAME
    assert dropped(inst, "torn_write") == PER_FRAME  # type: ignore[arg-type]
    assert inst.corrupt_bytes.total() == 100  # type: ignore[attr-defined]


async def test_truncated_segment_header_is_removed_and_counted(written: Path) -> None:
    """A segment cut inside its own header is removed; the state says how many records it held."""
    seg = segment_files(written)[1]
    held = len(_frames(seg)) * PER_FRAME
    os.truncate(seg, 20)
    ids, inst = await _reopen(written)
    assert not seg.exists()
    assert len(ids) == len(ALL) - held
    assert dropped(inst, "corrupt") == held  # type: ignore[arg-type]


async def test_zeroed_segment_header_keeps_every_frame(written: Path) -> None:
    """A destroyed segment header costs its 48 bytes, not its frames."""
    seg = segment_files(written)[0]
    _spoil(seg, 0, bytes(SEGMENT_HEADER_SIZE))
    ids, inst = await _reopen(written)
    assert ids == ALL
    assert inst.dropped.total() == 0  # type: ignore[attr-defined]
    assert inst.corrupt_bytes.total() == SEGMENT_HEADER_SIZE  # type: ignore[attr-defined]


async def test_garbage_files_are_ignored_or_skipped(written: Path) -> None:
    """Foreign files are left alone; a segment-named file of random bytes is skipped and counted."""
    (written / "notes.txt").write_text("not ours")
    (written / "subdir").mkdir()
    junk = written / "000000099999-metrics-normal.seg"
    junk.write_bytes(os.urandom(5000))
    ids, inst = await _reopen(written)
    assert ids == ALL
    assert (written / "notes.txt").read_text() == "not ours"
    assert inst.corrupt_bytes.total() == 5000  # type: ignore[attr-defined]
    assert dropped(inst, "corrupt", Signal.METRICS) == 0  # type: ignore[arg-type]


async def test_vanished_segment_is_counted_as_missing(written: Path) -> None:
    """A segment deleted behind the agent's back: start succeeds, its records count as segment_missing."""
    seg = segment_files(written)[1]
    held = len(_frames(seg)) * PER_FRAME
    seg.unlink()
    ids, inst = await _reopen(written)
    assert len(ids) == len(ALL) - held
    assert dropped(inst, "segment_missing") == held  # type: ignore[arg-type]


async def test_cursor_past_the_end_is_not_trusted(written: Path, io_clock: trio.testing.MockClock) -> None:
    """A state claiming bytes beyond a file's end is ignored for that file: its frames are resent."""
    inst = instruments()
    async with opened(written, inst, **OPTS) as buf:
        first = await buf.next_batch(max_bytes=8 * 1024)  # one frame of the first segment
        buf.ack(first)
        await buf.flush()
    state = cbor2.loads((written / STATE_FILE).read_bytes())
    state["segments"][0]["settled"] = [[SEGMENT_HEADER_SIZE, 10**9]]
    (written / STATE_FILE).write_bytes(cbor2.dumps(state))
    ids, inst2 = await _reopen(written)
    assert ids == ALL, "everything, including the acked frame, is sent again: at-least-once"
    assert inst2.dropped.total() == 0  # type: ignore[attr-defined]


async def test_unreadable_state_means_rescan_and_resend(written: Path) -> None:
    """A garbage state file is reported and ignored; every frame is found by scanning."""
    (written / STATE_FILE).write_bytes(b"\x00garbage")
    ids, inst = await _reopen(written)
    assert ids == ALL
    assert inst.dropped.total() == 0  # type: ignore[attr-defined]


async def test_leftover_temporary_state_is_removed(written: Path) -> None:
    """A crash during a state write leaves state.cbor.tmp; the next start deletes it."""
    (written / (STATE_FILE + ".tmp")).write_bytes(b"half")
    ids, _ = await _reopen(written)
    assert ids == ALL
    assert not (written / (STATE_FILE + ".tmp")).exists()


async def test_segments_of_a_newer_format_are_left_alone(written: Path) -> None:
    """A downgrade never destroys data a newer agent buffered: such files are kept and reported."""
    seg = segment_files(written)[0]
    held = len(_frames(seg)) * PER_FRAME
    raw = bytearray(seg.read_bytes())
    raw[8] = 2  # format version 2
    seg.write_bytes(bytes(raw))
    ids, inst = await _reopen(written)
    assert seg.exists() and seg.read_bytes() == bytes(raw)
    assert len(ids) == len(ALL) - held
    assert inst.dropped.total() == 0  # type: ignore[attr-defined]
