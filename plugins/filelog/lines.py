"""Sans-IO framing of file bytes into log records (lines, or multiline records).

Theory of operation: a file is read in chunks; :meth:`Framer.frame` takes the
bytes left over from the last chunk (``Cursor.pending``: a partial last line,
or an unfinished multiline record) plus the new chunk, and returns the
complete records as UTF-8 bytes without their newline. What stays pending
has not been emitted, so the checkpoint offset is ``Cursor.committed``:
the read offset minus the pending bytes.

The plain (one line = one record) path is the hot path and runs at C speed:
one ``rfind``, one ``decode`` to validate UTF-8 for the whole chunk, one
``split``, and C-level checks (``all``, ``max(map(len, ...))``) that send
only chunks with empty, over-long or non-UTF-8 lines to the slow per-line
path. No Python code runs per line otherwise.

Rules: ``\\r\\n`` is treated as ``\\n``; empty lines are skipped; a line
longer than ``max_line`` is cut at ``max_line`` bytes (on a character
boundary), counted, and the rest of that line is discarded; invalid UTF-8 is
replaced with U+FFFD and counted. ``latin-1`` files are transcoded to UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Cursor:
    """Per-file framing state."""

    offset: int = 0  # bytes of the file read so far
    pending: bytes = b""  # read but not yet emitted (partial line / open record)
    skipping: bool = False  # discarding the rest of an over-long line

    @property
    def committed(self) -> int:
        """The offset to resume from: everything before it has been emitted."""
        return self.offset - len(self.pending)


@dataclass
class Framed:
    records: list[bytes] = field(default_factory=list)
    truncated: int = 0
    invalid_utf8: int = 0


class Framer:
    def __init__(self, *, max_line: int, encoding: str = "utf-8", multiline_start: str = "") -> None:
        self.max_line = max_line
        self.latin1 = encoding == "latin-1"
        self.start = re.compile(multiline_start.encode()) if multiline_start else None

    def frame(self, cursor: Cursor, data: bytes, *, flush: bool = False) -> Framed:
        """Consume ``data`` (the bytes at ``cursor.offset``); ``flush`` also emits what is pending."""
        cursor.offset += len(data)
        buf = cursor.pending + data if cursor.pending else data
        cursor.pending = b""
        out = Framed()
        if cursor.skipping:
            newline = buf.find(b"\n")
            if newline < 0:
                return out  # still inside the over-long line: discard
            buf = buf[newline + 1 :]
            cursor.skipping = False
        if self.start is not None:
            self._frame_multiline(cursor, buf, flush, out)
        else:
            self._frame_lines(cursor, buf, flush, out)
        return out

    # -- one line per record (hot path) --------------------------------------

    def _frame_lines(self, cursor: Cursor, buf: bytes, flush: bool, out: Framed) -> None:
        cut = buf.rfind(b"\n")
        complete, rest = (buf[:cut], buf[cut + 1 :]) if cut >= 0 else (b"", buf)
        if flush and rest:
            complete, rest = (complete + b"\n" + rest if cut >= 0 else rest), b""
        if len(rest) > self.max_line:
            out.records.append(self._clean(rest[: self.max_line], out))
            out.truncated += 1
            cursor.skipping, rest = True, b""
        cursor.pending = rest
        if not complete:
            return
        lines = self._decode_lines(complete, out)
        out.records[:0] = lines  # the truncated partial line (if any) comes last

    def _decode_lines(self, complete: bytes, out: Framed) -> list[bytes]:
        if b"\r" in complete:
            complete = complete.replace(b"\r\n", b"\n")
            if complete.endswith(b"\r"):  # the CR of the last line's CRLF (its LF was the cut)
                complete = complete[:-1]
        if self.latin1:
            complete = complete.decode("latin-1").encode("utf-8")
            valid = True
        else:
            try:
                complete.decode("utf-8")
                valid = True
            except UnicodeDecodeError:
                valid = False
        lines = complete.split(b"\n")
        if not all(lines):
            lines = list(filter(None, lines))
        if not valid or (len(complete) > self.max_line and max(map(len, lines), default=0) > self.max_line):
            lines = [self._clean(line, out) for line in lines]
        return lines

    def _clean(self, record: bytes, out: Framed) -> bytes:
        """Slow path for one record: truncate on a character boundary, repair invalid UTF-8."""
        if self.latin1 and not record.isascii():
            record = record.decode("latin-1").encode("utf-8")
        if len(record) > self.max_line:
            out.truncated += 1
            record = (
                record[: self.max_line].decode("utf-8", "ignore").encode("utf-8")
            )  # drops a cut character
        try:
            record.decode("utf-8")
        except UnicodeDecodeError:
            out.invalid_utf8 += 1
            record = record.decode("utf-8", "replace").encode("utf-8")
        return record.rstrip(b"\r")

    # -- multiline records ----------------------------------------------------

    def _frame_multiline(self, cursor: Cursor, buf: bytes, flush: bool, out: Framed) -> None:
        assert self.start is not None
        lines = buf.split(b"\n")
        tail = lines.pop()  # after the last newline: a partial line (maybe empty)
        if flush and tail:
            lines.append(tail)
            tail = b""
        current: list[bytes] = []
        for line in lines:
            if current and self.start.match(line):
                self._emit_record(current, out)
                current = []
            if line or current:
                current.append(line)
        if flush and current:
            self._emit_record(current, out)
            current = []
        pending = b"\n".join(current) + b"\n" + tail if current else tail
        if len(pending) > self.max_line:
            out.records.append(self._clean(pending, out))  # counted as truncated by _clean
            pending = b""
            cursor.skipping = bool(tail)  # the partial line's rest is discarded
        cursor.pending = pending

    def _emit_record(self, lines: list[bytes], out: Framed) -> None:
        record = b"\n".join(line.rstrip(b"\r") for line in lines).rstrip(b"\n")
        if record:
            out.records.append(self._clean(record, out))
