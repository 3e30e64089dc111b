"""The cursor state file: what was settled, and summaries of sealed segments (sans-IO).

``state.cbor`` in the buffer directory is a CBOR map::

    {"format": "edge-agent-buffer-state", "v": 1, "next_seq": int,
     "segments": [{"seq", "uid", "signal", "priority", "size", "sealed", "frames", "records",
                   "first_ns", "last_ns", "settled": [[start, end], ...],
                   "settled_records"}, ...]}

It is replaced atomically (temp file, fsync, rename, fsync directory), so
after a crash it is either the previous or the next version. It is written
at most every ``state_interval``: acknowledgements newer than the last write
are lost in a crash, which means those frames are sent again (at-least-once,
never loss). Sealed segments whose summary is here are not rescanned on
start, which keeps start-up time independent of the backlog size.

Decoding is strict about types and lenient about everything else: a state
file that does not decode is ignored (every segment is rescanned and
resent), never a reason to refuse to start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cbor2

from edge_agent.buffer.frames import SIGNAL_BY_INDEX, SIGNAL_INDEX
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
