"""Incremental frame scanner: bytes of a segment in, frames and damage out (sans-IO).

Theory of operation: like h11's connection, the scanner is fed bytes in any
chunking (:meth:`FrameScanner.feed`) and yields events from
:meth:`FrameScanner.next_event` until it needs more data. It never raises on
bad input; everything it cannot use becomes a :class:`Damage` event that
says where, how long, and (when the frame header held) which signal and how
many records were lost:

* header holds, body checksum fails -> ``Damage(reason="checksum")`` for
  exactly that frame; scanning continues after it.
* header does not hold -> resynchronise: search forward for the next magic
  whose header checksum holds; the bytes skipped are
  ``Damage(reason="garbage")`` with unknown records.
* input ends inside a frame or inside garbage -> :meth:`finish` returns
  ``Damage(reason="torn")``: a torn tail that recovery truncates.

Memory stays bounded by the largest frame plus one read chunk: consumed
bytes are discarded as scanning advances.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final, Literal

from edge_agent.buffer.frames import FRAME_HEADER_SIZE, FRAME_MAGIC, FrameHeader, parse_frame_header
from edge_agent.otlp.fragment import Signal

DamageReason = Literal["checksum", "garbage", "torn", "envelope"]


@dataclass(frozen=True, slots=True)
class ScannedFrame:
    """A frame whose header and body checksums hold; ``offset`` is its position in the file."""

    offset: int
    header: FrameHeader
    body: bytes

    @property
    def end(self) -> int:
        return self.offset + self.header.frame_length


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes that are not a usable frame. ``records`` is 0 and ``signal`` None when unknown."""

    offset: int
    length: int
    reason: DamageReason
    signal: Signal | None = None
    records: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length


class NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()
_COMPACT_AT = 1 << 20


class FrameScanner:
    """Turns a byte stream starting at file offset ``start`` into frame and damage events."""

    def __init__(self, start: int = 0) -> None:
        self._buf = bytearray()
        self._base = start  # file offset of _buf[0]
        self._pos = 0  # index of the next unconsumed byte in _buf
        self._garbage_from: int | None = None  # file offset where unusable bytes began

    @property
    def offset(self) -> int:
        """File offset of the next byte not yet turned into an event."""
        return self._base + self._pos if self._garbage_from is None else self._garbage_from

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos > _COMPACT_AT and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0
        self._buf += data

    def next_event(self) -> ScannedFrame | Damage | NeedData:
        while True:
            if self._garbage_from is not None:
                return self._resync()
            if len(self._buf) - self._pos < FRAME_HEADER_SIZE:
                return NEED_DATA
            header = parse_frame_header(memoryview(self._buf)[self._pos : self._pos + FRAME_HEADER_SIZE])
            if header is None:
                self._garbage_from = self._base + self._pos
                self._pos += 1
                continue
            return self._frame(header)

    def _frame(self, header: FrameHeader) -> ScannedFrame | Damage | NeedData:
        length = header.frame_length
        if len(self._buf) - self._pos < length:
            return NEED_DATA
        start = self._pos + FRAME_HEADER_SIZE
        body = bytes(self._buf[start : self._pos + length])
        offset = self._base + self._pos
        self._pos += length
        if zlib.crc32(body) != header.body_crc:
            return Damage(offset, length, "checksum", header.signal, header.records)
        return ScannedFrame(offset, header, body)

    def _resync(self) -> Damage | NeedData:
        assert self._garbage_from is not None
        while True:
            found = self._buf.find(FRAME_MAGIC, self._pos)
            if found < 0:
                # keep a possible partial magic at the end for the next feed
                self._pos = max(self._pos, len(self._buf) - (len(FRAME_MAGIC) - 1))
                return NEED_DATA
            self._pos = found
            if len(self._buf) - found < FRAME_HEADER_SIZE:
                return NEED_DATA
            if parse_frame_header(memoryview(self._buf)[found : found + FRAME_HEADER_SIZE]) is None:
                self._pos = found + 1
                continue
            damage = Damage(self._garbage_from, self._base + found - self._garbage_from, "garbage")
            self._garbage_from = None
            return damage

    def finish(self) -> Damage | None:
        """Call once the input has ended (after ``next_event`` returned NEED_DATA).

        Returns the torn tail (an incomplete frame or trailing garbage), or
        None when the input ended exactly at a frame boundary.
        """
        end = self._base + len(self._buf)
        start = self.offset
        if start >= end:
            return None
        header = None
        if self._garbage_from is None:
            view = memoryview(self._buf)[self._pos : self._pos + FRAME_HEADER_SIZE]
            header = parse_frame_header(view)
        self._garbage_from = None
        self._pos = len(self._buf)
        if header is not None:
            return Damage(start, end - start, "torn", header.signal, header.records)
        return Damage(start, end - start, "torn")


def scan_bytes(data: bytes, start: int = 0) -> list[ScannedFrame | Damage]:
    """Every event in ``data`` (a whole segment body), ending with the torn tail if any."""
    scanner = FrameScanner(start)
    scanner.feed(data)
    events: list[ScannedFrame | Damage] = []
    while not isinstance(event := scanner.next_event(), NeedData):
        events.append(event)
    tail = scanner.finish()
    if tail is not None:
        events.append(tail)
    return events
