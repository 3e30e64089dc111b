"""Read-only inspection of a buffer directory, for ``edge-agent buffer stats|verify|dump``.

Unlike start-up recovery this never changes a file: it scans every segment
in full (checking both checksums, the envelope and the compressed payload
of every frame), and reports what it found. It is safe to run next to a
running agent; the figures are then a snapshot.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.buffer import codecs
from edge_agent.buffer.cursor import CursorState
from edge_agent.buffer.frames import Envelope, EnvelopeError, Sealer, open_body
from edge_agent.buffer.ranges import RangeSet
from edge_agent.buffer.recovery import RecoveryReport
from edge_agent.buffer.scan import Damage, FrameScanner, NeedData, ScannedFrame
from edge_agent.buffer.segments import (
    SEGMENT_HEADER_SIZE,
    SegmentHeader,
    StreamKey,
    newer_format,
    parse_segment_header,
    parse_segment_name,
)
from edge_agent.buffer.store import ACK_FILE, LOCK_FILE, READ_CHUNK, STATE_FILE, load_state

FrameVisitor = Callable[[str, int, Envelope, bool], None]  # segment name, offset, envelope, settled


@dataclass
class StreamStats:
    segments: int = 0
    frames: int = 0
    records: int = 0
    unsent_records: int = 0
    bytes: int = 0
    raw_bytes: int = 0
    oldest_created_ns: int = 0


@dataclass
class Inspection:
    directory: Path
    streams: dict[StreamKey, StreamStats] = field(default_factory=dict)
    damage: list[tuple[str, Damage]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    state_problem: str = ""
    total_bytes: int = 0
    in_use: bool = False

    def is_clean(self) -> bool:
        return not (self.damage or self.state_problem)


def inspect_directory(
    directory: Path, *, sealer: Sealer | None = None, visit: FrameVisitor | None = None
) -> Inspection:
    """Scan every segment of ``directory`` without modifying anything."""
    result = Inspection(directory, in_use=_is_locked(directory))
    state = _state(directory, result)
    for name in sorted(os.listdir(directory)):
        path = directory / name
        if not path.is_file():
            result.ignored.append(name)
            continue
        result.total_bytes += path.stat().st_size
        if name in (STATE_FILE, LOCK_FILE, STATE_FILE + ".tmp", ACK_FILE):
            continue
        parsed = parse_segment_name(name)
        if parsed is None:
            result.ignored.append(name)
            continue
        _inspect_segment(path, parsed, state, result, sealer, visit)
    return result


def _is_locked(directory: Path) -> bool:
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _state(directory: Path, result: Inspection) -> CursorState | None:
    report = RecoveryReport()
    state = load_state(directory, report)
    result.state_problem = report.state_problem
    return state


def _inspect_segment(
    path: Path,
    parsed: tuple[int, object, object],
    state: CursorState | None,
    result: Inspection,
    sealer: Sealer | None,
    visit: FrameVisitor | None,
) -> None:
    with path.open("rb") as f:
        raw = f.read(SEGMENT_HEADER_SIZE)
        if newer_format(raw) is not None:
            result.ignored.append(f"{path.name} (written by a newer format version)")
            return
        header = parse_segment_header(raw)
        if header is None:
            result.damage.append((path.name, Damage(0, SEGMENT_HEADER_SIZE, "garbage")))
            return
        record = state.segments.get(header.seq) if state else None
        settled = RangeSet(record.settled) if record is not None and record.uid == header.uid else RangeSet()
        stats = result.streams.setdefault((header.signal, header.priority), StreamStats())
        stats.segments += 1
        stats.bytes += path.stat().st_size
        if not stats.oldest_created_ns or header.created_ns < stats.oldest_created_ns:
            stats.oldest_created_ns = header.created_ns
        scanner = FrameScanner(SEGMENT_HEADER_SIZE)
        while chunk := f.read(READ_CHUNK):
            scanner.feed(chunk)
            while not isinstance(event := scanner.next_event(), NeedData):
                _event(path.name, header, event, settled, stats, result, sealer, visit)
        tail = scanner.finish()
        if tail is not None:
            result.damage.append((path.name, tail))


def _event(
    name: str,
    header: SegmentHeader,
    event: ScannedFrame | Damage,
    settled: RangeSet,
    stats: StreamStats,
    result: Inspection,
    sealer: Sealer | None,
    visit: FrameVisitor | None,
) -> None:
    if isinstance(event, Damage):
        result.damage.append((name, event))
        return
    h = event.header
    try:
        envelope = open_body(h, event.body, sealer=sealer, aad=header.aad)
        codecs.decompress(envelope.codec, envelope.payload, envelope.raw_size)
    except (EnvelopeError, codecs.CodecError):
        result.damage.append((name, Damage(event.offset, h.frame_length, "envelope", h.signal, h.records)))
        return
    is_settled = settled.covers(event.offset, event.end)
    stats.frames += 1
    stats.records += envelope.records
    stats.raw_bytes += envelope.raw_size
    if not is_settled:
        stats.unsent_records += envelope.records
    if visit is not None:
        visit(name, event.offset, envelope, is_settled)
