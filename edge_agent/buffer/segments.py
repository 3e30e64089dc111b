"""Segment files and their bookkeeping (sans-IO).

A stream is the frames of one (signal, priority). Each stream appends to its
own sequence of segment files, so the budget can delete the oldest data of
the least important stream as whole files. File names carry a sequence
number shared by all streams, zero-padded so they sort in creation order::

    000000000042-metrics-normal.seg

Every segment starts with a 48-byte header::

    0   8  magic b"EABUFSEG"
    8   1  format version (1)
    9   1  flags           bit 0: frames are encrypted
    10  1  signal index
    11  1  priority
    12  4  reserved (0)
    16  8  sequence number
    24  8  uid             random; ties cursor state to this very file
    32  8  created, Unix ns
    40  4  key id          first 4 bytes of the encryption key's fingerprint (0 if none)
    44  4  CRC32 of bytes 0..44

A :class:`Segment` is the in-memory summary of one file: size, frame and
record counts, and the byte ranges already settled. It is all the buffer
keeps per segment, whatever the backlog size.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field

from edge_agent.buffer.frames import SIGNAL_BY_INDEX, SIGNAL_INDEX
from edge_agent.buffer.ranges import RangeSet
from edge_agent.otlp.fragment import Priority, Signal

SEGMENT_MAGIC = b"EABUFSEG"
SEGMENT_VERSION = 1
SEGMENT_HEADER = struct.Struct("<8sBBBBIQQQ4sI")
SEGMENT_HEADER_SIZE = SEGMENT_HEADER.size  # 48
SEGMENT_FLAG_ENCRYPTED = 0x01
_NAME = re.compile(r"^(\d{12})-(traces|metrics|logs)-(critical|normal|bulk)\.seg$")

StreamKey = tuple[Signal, Priority]


def segment_name(seq: int, signal: Signal, priority: Priority) -> str:
    return f"{seq:012d}-{signal.value}-{priority.name.lower()}.seg"


def parse_segment_name(name: str) -> tuple[int, Signal, Priority] | None:
    """``(seq, signal, priority)`` for a segment file name, None for any other file."""
    match = _NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), Signal(match.group(2)), Priority[match.group(3).upper()]


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    seq: int
    signal: Signal
    priority: Priority
    uid: int
    created_ns: int
    encrypted: bool = False
    key_id: bytes = b"\0\0\0\0"

    def encode(self) -> bytes:
        flags = SEGMENT_FLAG_ENCRYPTED if self.encrypted else 0
        head = SEGMENT_HEADER.pack(
            SEGMENT_MAGIC,
            SEGMENT_VERSION,
            flags,
            SIGNAL_INDEX[self.signal],
            int(self.priority),
            0,
            self.seq,
            self.uid,
            self.created_ns,
            self.key_id,
            0,
        )
        return head[:44] + struct.pack("<I", zlib.crc32(head[:44]))

    @property
    def aad(self) -> bytes:
        """Additional authenticated data for encrypted frames: binds them to this file."""
        return struct.pack("<QQ", self.seq, self.uid)


def newer_format(data: bytes) -> int | None:
    """The version of a segment written by a newer agent (intact magic, higher version), else None.

    Such files are left alone, never scanned as damage: a downgrade must not destroy
    data the newer version buffered.
    """
    if len(data) < 9 or data[:8] != SEGMENT_MAGIC or data[8] <= SEGMENT_VERSION:
        return None
    return data[8]


def parse_segment_header(data: bytes) -> SegmentHeader | None:
    """The header if it is intact and of a version we read, else None."""
    if len(data) < SEGMENT_HEADER_SIZE:
        return None
    magic, version, flags, sig, prio, _, seq, uid, created, key_id, crc = SEGMENT_HEADER.unpack_from(data)
    if magic != SEGMENT_MAGIC or version != SEGMENT_VERSION or zlib.crc32(data[:44]) != crc:
        return None
    if sig not in SIGNAL_BY_INDEX or prio > max(Priority):
        return None
    encrypted = bool(flags & SEGMENT_FLAG_ENCRYPTED)
    return SegmentHeader(seq, SIGNAL_BY_INDEX[sig], Priority(prio), uid, created, encrypted, key_id)


@dataclass(frozen=True, slots=True)
class FrameRef:
    """Where a frame is and what it holds, without its bytes."""

    seq: int
    offset: int
    length: int
    records: int
    raw_size: int
    first_ns: int = 0
    last_ns: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.seq, self.offset)

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class Segment:
    """Summary of one segment file. ``sealed`` segments take no more frames."""

    header: SegmentHeader
    size: int = SEGMENT_HEADER_SIZE
    frames: int = 0
    records: int = 0
    first_ns: int = 0
    last_ns: int = 0
    sealed: bool = False
    settled: RangeSet = field(default_factory=RangeSet)
    settled_records: int = 0

    @property
    def seq(self) -> int:
        return self.header.seq

    @property
    def stream(self) -> StreamKey:
        return (self.header.signal, self.header.priority)

    @property
    def name(self) -> str:
        return segment_name(self.seq, self.header.signal, self.header.priority)

    @property
    def unsettled_records(self) -> int:
        return max(0, self.records - self.settled_records)

    def is_settled(self) -> bool:
        """Every byte after the header settled: deleting the file loses nothing."""
        return self.size <= SEGMENT_HEADER_SIZE or self.settled.covers(SEGMENT_HEADER_SIZE, self.size)

    def is_done(self) -> bool:
        """Sealed and settled: the file can go (an open segment is kept to avoid file churn)."""
        return self.sealed and self.is_settled()

    def note_frame(self, offset: int, length: int, records: int, first_ns: int, last_ns: int) -> None:
        """Account a frame appended (or found by a scan) at ``offset``."""
        self.size = max(self.size, offset + length)
        self.frames += 1
        self.records += records
        if first_ns and (not self.first_ns or first_ns < self.first_ns):
            self.first_ns = first_ns
        self.last_ns = max(self.last_ns, last_ns)

    def settle(self, offset: int, end: int, records: int) -> int:
        """Mark ``[offset, end)`` settled; returns the records newly settled (0 if it already was)."""
        if self.settled.covers(offset, end):
            return 0
        self.settled.add(offset, end)
        self.settled_records += records
        return records
