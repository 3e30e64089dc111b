"""The buffer directory on disk: blocking file operations, each meant for a worker thread.

Layout of the directory (mode 0700)::

    lock                                   flock()ed by the running agent
    state.cbor                             cursor state (see cursor.py)
    acks.cbor                              acknowledgements since the last state write
    000000000042-metrics-normal.seg        segment files (see segments.py)

Only files named like segments, ``state.cbor``, its ``.tmp``, ``acks.cbor``
and ``lock`` are ours; anything else is left alone and reported. The store does I/O
only: what to write where is decided by the sans-IO planners, and the store
reports exactly how far it got so the bookkeeping never runs ahead of the
disk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from edge_agent.buffer.commit import Append, CommitPlan, CommitResult
from edge_agent.buffer.crypto import AesGcmSealer
from edge_agent.buffer.cursor import (
    CursorState,
    SegmentRecord,
    StateDecodeError,
    apply_acks,
    decode_acks,
    decode_state,
)
from edge_agent.buffer.frames import frame_from_body, frame_head
from edge_agent.buffer.recovery import RecoveryReport, SegmentRebuilder, trusted_segment
from edge_agent.buffer.scan import Damage, FrameScanner, NeedData, ScannedFrame
from edge_agent.buffer.segments import (
    SEGMENT_HEADER_SIZE,
    Segment,
    SegmentHeader,
    newer_format,
    parse_segment_header,
    parse_segment_name,
    segment_name,
)
from edge_agent.buffer.table import SegmentTable
from edge_agent.errors import ConfigError, StorageError
from edge_agent.otlp.fragment import Priority, Signal
from edge_agent.runtime.state import ensure_private_dir, fsync_dir, write_atomic

log = logging.getLogger("edge_agent.buffer")

STATE_FILE = "state.cbor"
ACK_FILE = "acks.cbor"
LOCK_FILE = "lock"
READ_CHUNK = 1 << 20


@dataclass
class Recovered:
    table: SegmentTable
    report: RecoveryReport
    next_seq: int


class SegmentStore:
    def __init__(self, directory: Path, *, sealer: AesGcmSealer | None = None) -> None:
        self.directory = directory
        self.sealer = sealer
        self._write_fds: dict[int, int] = {}  # open segments, by seq
        self._unsynced: set[int] = set()
        self._lock_fd: int | None = None
        self._ack_fd: int | None = None  # kept open: an idle device appends to it every cycle

    def path(self, seq: int, header: SegmentHeader) -> Path:
        return self.directory / segment_name(seq, header.signal, header.priority)

    # -- opening -----------------------------------------------------------

    def lock(self) -> None:
        """Create the directory if needed and take the writer lock (one agent per buffer)."""
        try:
            ensure_private_dir(self.directory)
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open buffer directory {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(
                f"buffer directory {self.directory} is in use by another edge-agent process; "
                "stop it or give this one its own agent.state_dir or buffer.dir"
            ) from None
        self._lock_fd = fd

    def recover(self) -> Recovered:
        """Scan the directory and rebuild the segment table (see recovery.py)."""
        report = RecoveryReport()
        state = self._load_state(report)
        table = SegmentTable()
        highest = -1
        for name in sorted(os.listdir(self.directory)):
            if name in (STATE_FILE, LOCK_FILE, ACK_FILE):
                continue
            path = self.directory / name
            if name == STATE_FILE + ".tmp":
                path.unlink(missing_ok=True)
                report.removed.append(name)
                continue
            parsed = parse_segment_name(name)
            if parsed is None or not path.is_file():
                report.ignored.append(name)
                continue
            highest = max(highest, parsed[0])
            record = state.segments.get(parsed[0]) if state else None
            segment = self._recover_segment(path, parsed, record, report)
            if segment is not None:
                table.add(segment)
        if state is not None:
            for seq, record in state.segments.items():
                name = segment_name(seq, record.signal, record.priority)
                if (
                    table.get(seq) is None
                    and record.records > record.settled_records
                    and name not in report.newer
                ):
                    reason = "corrupt" if name in report.removed else "segment_missing"
                    unsent = record.records - record.settled_records
                    report.lost.append((name, record.signal, unsent, reason))
        next_seq = max(highest + 1, state.next_seq if state else 0)
        return Recovered(table, report, next_seq)

    def _load_state(self, report: RecoveryReport) -> CursorState | None:
        return load_state(self.directory, report)

    def _recover_segment(
        self,
        path: Path,
        parsed: tuple[int, Signal, Priority],
        record: SegmentRecord | None,
        report: RecoveryReport,
    ) -> Segment | None:
        info = path.stat()
        with path.open("rb") as f:
            raw = f.read(SEGMENT_HEADER_SIZE)
        version = newer_format(raw)
        if version is not None:
            report.ignored.append(f"{path.name} (format version {version}: written by a newer agent)")
            report.newer.append(path.name)
            return None
        header = parse_segment_header(raw)
        if header is not None and (header.seq, header.signal, header.priority) != parsed:
            header = None  # a header that contradicts its file name is as good as none
        if header is None:
            if info.st_size <= SEGMENT_HEADER_SIZE:
                # torn while being created: nothing in it
                path.unlink()
                report.removed.append(path.name)
                if info.st_size:
                    report.damage.append((path.name, Damage(0, info.st_size, "torn")))
                return None
            header = SegmentHeader(*parsed, uid=0, created_ns=info.st_mtime_ns)
            report.damage.append((path.name, Damage(0, SEGMENT_HEADER_SIZE, "garbage")))
        self._check_key(header, path)
        trusted = trusted_segment(header, info.st_size, record)
        if trusted is not None:
            report.trusted += 1
            report.frames += trusted.frames
            return trusted
        return self._rescan(path, header, info.st_size, record, report)

    def _check_key(self, header: SegmentHeader, path: Path) -> None:
        if not header.encrypted:
            return
        hint = f"or move {self.directory} away to start with an empty buffer"
        if self.sealer is None:
            raise ConfigError(
                f"{path.name} is encrypted but no key is configured; set it to the key this buffer "
                f"was written with, {hint}",
                key="buffer.encryption_key_file",
            )
        if header.key_id != self.sealer.key_id:
            raise ConfigError(
                f"{path.name} was encrypted with a different key than the one configured; "
                f"configure that key, {hint}",
                key="buffer.encryption_key_file",
            )

    def _rescan(
        self,
        path: Path,
        header: SegmentHeader,
        size: int,
        record: SegmentRecord | None,
        report: RecoveryReport,
    ) -> Segment:
        rebuild = SegmentRebuilder(header, size, record)
        scanner = FrameScanner(SEGMENT_HEADER_SIZE)
        with path.open("rb") as stream:
            stream.seek(SEGMENT_HEADER_SIZE)
            while chunk := stream.read(READ_CHUNK):
                scanner.feed(chunk)
                while not isinstance(event := scanner.next_event(), NeedData):
                    if isinstance(event, ScannedFrame):
                        rebuild.frame(event)
                    else:
                        rebuild.damaged(event)
        segment = rebuild.finish(scanner.finish())
        report.scanned += 1
        report.frames += segment.frames
        report.damage.extend((path.name, d) for d in rebuild.damage)
        if rebuild.truncate_at is not None and rebuild.truncate_at < size:
            os.truncate(path, rebuild.truncate_at)
            report.truncated_bytes += size - rebuild.truncate_at
            segment.size = min(segment.size, rebuild.truncate_at)
        return segment

    # -- writing -----------------------------------------------------------

    def execute(
        self, plan: CommitPlan, *, fsync: bool, state: bytes | None = None, acks: bytes | None = None
    ) -> CommitResult:
        """Carry out a commit plan; stops at the first error and says how far it got.

        ``state``, if given, is saved before anything is deleted; ``acks`` (encoded acknowledgements)
        are appended to the acknowledgement log first, so they need no thread round trip of their own.
        """
        result = CommitResult()
        touched: set[int] = set()
        try:
            if acks:
                self.append_acks(acks)
                result.acks_logged = True
            if state is not None:
                self.write_state(state)
            for seq in plan.victims:
                self._remove(seq)
                result.deleted.append(seq)
            for header in plan.creates:
                self._create(header)
                result.created.append(header.seq)
            for append in plan.appends:
                parts = self._frame_parts(append)
                length = sum(map(len, parts))
                assert length == append.prepared.frame_length, "frame length differs from the plan"
                _write_all(self._write_fds[append.header.seq], parts)
                touched.add(append.header.seq)
                result.appended += 1
                result.written_bytes += length
            if fsync:
                result.fsync_seconds = self._fsync(touched, directory=bool(plan.creates))
            else:
                self._unsynced |= touched
            for seq in plan.seals:  # after the appends: a plan may fill a segment, then seal it
                self._close_writer(seq)
        except OSError as exc:
            result.error = exc
            self._unsynced |= touched  # synced (or at least retried) by the next fsync
        return result

    def _frame_parts(self, append: Append) -> list[bytes]:
        """The frame as buffers to write side by side: header, envelope head, compressed payload."""
        p = append.prepared
        signal, priority = p.batch.stream
        if self.sealer is not None:
            return [
                frame_from_body(
                    p.body + p.tail, signal, priority, p.batch.records, self.sealer, append.header.aad
                )
            ]
        crc = p.body_crc if p.body_crc is not None else zlib.crc32(p.tail, zlib.crc32(p.body))
        head = frame_head(len(p.body) + len(p.tail), crc, signal, priority, p.batch.records)
        return [head, p.body, p.tail] if p.tail else [head, p.body]

    def _create(self, header: SegmentHeader) -> None:
        path = self.path(header.seq, header)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._write_fds[header.seq] = fd
        _write_all(fd, [header.encode()])

    def _remove(self, seq: int) -> None:
        self._close_writer(seq)
        for path in self.directory.glob(f"{seq:012d}-*.seg"):
            path.unlink(missing_ok=True)

    def _close_writer(self, seq: int) -> None:
        fd = self._write_fds.pop(seq, None)
        if fd is not None:
            if seq in self._unsynced:
                os.fsync(fd)  # sealed data is as durable as the policy promised for it
                self._unsynced.discard(seq)
            os.close(fd)

    def _fsync(self, seqs: set[int], *, directory: bool) -> float:
        started = time.perf_counter()
        for seq in seqs | self._unsynced:
            fd = self._write_fds.get(seq)
            if fd is not None:
                os.fsync(fd)
        self._unsynced.clear()
        if directory:
            fsync_dir(self.directory)
        return time.perf_counter() - started

    def has_unsynced(self) -> bool:
        return bool(self._unsynced)

    def sync(self) -> float:
        """fsync everything written since the last fsync (the ``interval`` policy's tick)."""
        return self._fsync(set(), directory=True) if self._unsynced else 0.0

    def delete(self, seqs: list[int]) -> None:
        for seq in seqs:
            self._remove(seq)

    def write_state(self, data: bytes) -> None:
        """Replace the state durably; the acknowledgement log starts afresh (the state has them)."""
        write_atomic(self.directory / STATE_FILE, data)
        if self._ack_fd is not None:
            os.ftruncate(self._ack_fd, 0)  # O_APPEND: the next append starts at 0
        else:
            with contextlib.suppress(FileNotFoundError):
                os.truncate(self.directory / ACK_FILE, 0)

    def append_acks(self, data: bytes) -> None:
        """Log acknowledgements: appended, not fsynced (losing them only means resending)."""
        if self._ack_fd is None:
            self._ack_fd = os.open(self.directory / ACK_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _write_all(self._ack_fd, [data])

    # -- reading -----------------------------------------------------------

    def read(self, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; short (or empty) if the file is shorter or gone."""
        try:
            fd = os.open(self.directory / name, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def scan(self, name: str, offset: int, limit: int, want: int) -> list[ScannedFrame | Damage]:
        """Events from ``offset`` towards ``limit``: stops after about ``want`` bytes of frames."""
        scanner = FrameScanner(offset)
        events: list[ScannedFrame | Damage] = []
        position, got, short = offset, 0, False
        while position < limit and got < want:
            data = self.read(name, position, min(limit - position, max(want - got, 64 * 1024), READ_CHUNK))
            if not data:
                short = True  # the file is shorter than its summary says
                break
            position += len(data)
            scanner.feed(data)
            while not isinstance(event := scanner.next_event(), NeedData):
                events.append(event)
                got += event.length if isinstance(event, Damage) else event.header.frame_length
        if position >= limit or short:
            tail = scanner.finish()
            start = tail.offset if tail is not None else scanner.offset
            if start < limit:
                signal, records = (tail.signal, tail.records) if tail is not None else (None, 0)
                events.append(Damage(start, limit - start, "torn", signal, records))
        return events

    def close(self) -> None:
        for seq in list(self._write_fds):
            with contextlib.suppress(OSError):
                self._close_writer(seq)
        if self._ack_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._ack_fd)
            self._ack_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _write_all(fd: int, parts: list[bytes]) -> None:
    """Write every byte of ``parts``, in order (``writev``: no copy to join them first)."""
    views = [memoryview(p) for p in parts if p]
    while views:
        written = os.writev(fd, views)
        if written == 0:
            raise OSError(errno.EIO, "write returned 0")
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def load_state(directory: Path, report: RecoveryReport) -> CursorState | None:
    """The cursor state with the acknowledgement log applied, or None (problems go in ``report``)."""
    try:
        state = decode_state((directory / STATE_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, StateDecodeError) as exc:
        report.state_problem = f"{STATE_FILE} is unusable ({exc}); every segment is rescanned"
        return None
    try:
        acks = decode_acks((directory / ACK_FILE).read_bytes())
    except FileNotFoundError:
        return state
    return apply_acks(state, acks)
