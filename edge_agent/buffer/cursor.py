"""The cursor state file: what was settled, and summaries of sealed segments (sans-IO).

``state.cbor`` in the buffer directory is a CBOR map::

    {"format": "edge-agent-buffer-state", "v": 1, "next_seq": int,
     "segments": [{"seq", "uid", "signal", "priority", "size", "sealed", "frames", "records",
                   "first_ns", "last_ns", "settled": [[start, end], ...],
                   "settled_records"}, ...]}

It is replaced atomically (temp file, fsync, rename, fsync directory), so
after a crash it is either the previous or the next version. It is written
when segments are created, sealed or deleted (at most every
``state_interval``, and always before files are deleted). Sealed segments
whose summary is here are not rescanned on start, which keeps start-up time
independent of the backlog size.

Acknowledgements go to ``acks.cbor`` instead: an append-only sequence of
small CBOR arrays ``[seq, uid, start, end, records]``, written a quarter of
a second after they happen, without fsync and without rewriting anything.
A process crash (the page cache survives) then resends almost nothing; a
power loss may resend up to the kernel's writeback delay of acknowledged
data (duplicates, never loss); and the flash sees one page written back now
and then instead of a rewritten state file every second. Every state write
starts the log afresh. A torn last entry is ignored.

Decoding is strict about types and lenient about everything else: a state
file that does not decode is ignored (every segment is rescanned and
resent), never a reason to refuse to start.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cbor2

from edge_agent.buffer.frames import SIGNAL_BY_INDEX, SIGNAL_INDEX
from edge_agent.buffer.ranges import RangeSet
from edge_agent.buffer.segments import Segment
from edge_agent.otlp.fragment import Priority, Signal

STATE_FORMAT = "edge-agent-buffer-state"
STATE_VERSION = 1


class StateDecodeError(ValueError):
    """The state file is not one we can use."""


@dataclass(frozen=True)
class SegmentRecord:
    seq: int
    uid: int
    signal: Signal
    priority: Priority
    size: int
    sealed: bool
    frames: int
    records: int
    first_ns: int
    last_ns: int
    settled: tuple[tuple[int, int], ...]
    settled_records: int

    @classmethod
    def of(cls, segment: Segment) -> SegmentRecord:
        return cls(
            seq=segment.seq,
            uid=segment.header.uid,
            signal=segment.header.signal,
            priority=segment.header.priority,
            size=segment.size,
            sealed=segment.sealed,
            frames=segment.frames,
            records=segment.records,
            first_ns=segment.first_ns,
            last_ns=segment.last_ns,
            settled=tuple(segment.settled),
            settled_records=segment.settled_records,
        )


@dataclass(frozen=True)
class CursorState:
    next_seq: int
    segments: dict[int, SegmentRecord]


def encode_state(segments: Iterable[Segment], next_seq: int) -> bytes:
    records = [SegmentRecord.of(s) for s in segments]
    return cbor2.dumps(
        {
            "format": STATE_FORMAT,
            "v": STATE_VERSION,
            "next_seq": next_seq,
            "segments": [
                {
                    "seq": r.seq,
                    "uid": r.uid,
                    "signal": SIGNAL_INDEX[r.signal],
                    "priority": int(r.priority),
                    "size": r.size,
                    "sealed": r.sealed,
                    "frames": r.frames,
                    "records": r.records,
                    "first_ns": r.first_ns,
                    "last_ns": r.last_ns,
                    "settled": [list(x) for x in r.settled],
                    "settled_records": r.settled_records,
                }
                for r in records
            ],
        }
    )


def decode_state(data: bytes) -> CursorState:
    try:
        top = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, EOFError, TypeError) as exc:
        raise StateDecodeError(f"not CBOR: {exc}") from None
    if not isinstance(top, dict) or top.get("format") != STATE_FORMAT:
        raise StateDecodeError("not a buffer state file")
    if top.get("v") != STATE_VERSION:
        raise StateDecodeError(f"state version {top.get('v')!r} is not {STATE_VERSION}")
    try:
        segments = {r.seq: r for r in (_record(item) for item in top["segments"])}
        return CursorState(_nonneg(top["next_seq"]), segments)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateDecodeError(f"invalid field: {exc}") from None


def _record(item: Any) -> SegmentRecord:
    if not isinstance(item, dict):
        raise TypeError("segment entry is not a map")
    settled = tuple((_nonneg(s), _nonneg(e)) for s, e in item["settled"])
    if any(e < s for s, e in settled):
        raise ValueError("settled range ends before it starts")
    sealed = item["sealed"]
    if not isinstance(sealed, bool):
        raise TypeError("sealed is not a boolean")
    return SegmentRecord(
        seq=_nonneg(item["seq"]),
        uid=_nonneg(item["uid"]),
        signal=SIGNAL_BY_INDEX[_nonneg(item["signal"])],
        priority=Priority(_nonneg(item["priority"])),
        size=_nonneg(item["size"]),
        sealed=sealed,
        frames=_nonneg(item["frames"]),
        records=_nonneg(item["records"]),
        first_ns=_nonneg(item["first_ns"]),
        last_ns=_nonneg(item["last_ns"]),
        settled=settled,
        settled_records=_nonneg(item["settled_records"]),
    )


def _nonneg(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


Ack = tuple[int, int, int, int, int]  # segment seq, segment uid, start, end, records


def encode_acks(acks: Iterable[Ack]) -> bytes:
    return b"".join(cbor2.dumps(list(ack)) for ack in acks)


def decode_acks(data: bytes) -> list[Ack]:
    """Every complete entry, stopping at the first that does not decode (a torn tail)."""
    out: list[Ack] = []
    stream = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(stream)
    while stream.tell() < len(data):
        try:
            item = decoder.decode()
            seq, uid, start, end, records = (_nonneg(x) for x in item)
        except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError):
            break
        out.append((seq, uid, start, end, records))
    return out


def apply_acks(state: CursorState, acks: Iterable[Ack]) -> CursorState:
    """The state with logged acknowledgements folded in (idempotent: a range counts once)."""
    segments = dict(state.segments)
    ranges = {seq: RangeSet(rec.settled) for seq, rec in segments.items()}
    for seq, uid, start, end, records in acks:
        record = segments.get(seq)
        if record is None:
            # created after the last state write: a stub carrying only what was settled
            # (the segment is rescanned on start, which recounts its frames and records)
            record = segments[seq] = SegmentRecord(
                seq, uid, Signal.LOGS, Priority.NORMAL, 0, False, 0, 0, 0, 0, (), 0
            )
            ranges[seq] = RangeSet()
        if record.uid != uid or end <= start or ranges[seq].covers(start, end):
            continue
        ranges[seq].add(start, end)
        segments[seq] = dataclasses.replace(
            record, settled=tuple(ranges[seq]), settled_records=record.settled_records + records
        )
    return CursorState(state.next_seq, segments)
