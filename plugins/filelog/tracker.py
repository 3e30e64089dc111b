"""Which files to read and from where: identity across rotation, checkpoints, truncation.

Theory of operation (blocking code; the plugin calls it in worker threads).

A file is identified by its *fingerprint*, the first ``fingerprint_size``
bytes (fewer while the file is shorter), together with its device and inode.
Every matched file is held open, so:

* **rename rotation** (``app.log`` -> ``app.log.1``, new ``app.log``): the
  open descriptor keeps reading the renamed inode to its end; the new
  ``app.log`` is a new inode and is read from its beginning.
* **deleted while open**: the descriptor still reads the unlinked data to
  the end; then the file is closed and forgotten.
* **copytruncate** (the content is copied to ``app.log.1``, ``app.log`` is
  truncated in place): the same inode shrinks below the read offset (or its
  first bytes change), so reading restarts at 0. If the copy matches the
  globs too, its fingerprint equals the old file's, so it is read from the
  old committed offset: lines written between the last read and the copy
  are not lost and nothing is read twice.
* **restart**: checkpoints ``{fp, offset, dev, ino, path}`` are matched by
  fingerprint (a stored fingerprint must be a prefix of the file's first
  bytes; the same dev/inode wins a tie), so a file is resumed at its
  committed offset even if it was renamed meanwhile, and old files are
  not read again.

Files found at the first scan without a checkpoint start at ``start_at``;
files that appear later start at the beginning (they are new data).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from edge_agent import AttributeValue

from .lines import Cursor


@dataclass
class TrackedFile:
    path: str
    dev: int
    ino: int
    fd: int
    fingerprint: bytes
    cursor: Cursor
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    last_data: float = 0.0  # monotonic time the file last produced bytes
    seen: bool = True  # matched by the globs at the latest scan

    @property
    def key(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def checkpoint(self) -> dict[str, Any]:
        return {
            "fp": self.fingerprint,
            "offset": self.cursor.committed,
            "dev": self.dev,
            "ino": self.ino,
            "path": self.path,
        }

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class ScanResult:
    opened: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Tracker:
    """The set of open files and the checkpoints not yet matched to one."""

    def __init__(
        self,
        include: tuple[str, ...],
        exclude: tuple[str, ...],
        *,
        fingerprint_size: int,
        start_at: str,
        checkpoints: list[dict[str, Any]],
        attributes: Any,
    ) -> None:
        self.include = include
        self.exclude = exclude
        self.fingerprint_size = fingerprint_size
        self.start_at = start_at
        self.checkpoints = [c for c in checkpoints if isinstance(c, dict) and c.get("fp")]
        self.files: dict[tuple[int, int], TrackedFile] = {}
        self._attributes = attributes  # (path) -> attribute dict
        self._first_scan = True

    def matched_paths(self) -> list[str]:
        paths: set[str] = set()
        for pattern in self.include:
            paths.update(glob.glob(pattern))
        return sorted(p for p in paths if not any(fnmatchcase(p, ex) for ex in self.exclude))

    def scan(self) -> ScanResult:
        """Find new, rotated and truncated files (blocking)."""
        result = ScanResult()
        old_fingerprints = [(f.fingerprint, f.cursor.committed) for f in self.files.values()]
        for tracked in self.files.values():
            tracked.seen = False
        for path in self.matched_paths():
            try:
                self._scan_one(path, old_fingerprints, result)
            except OSError as exc:
                result.errors.append(f"{path}: {exc.strerror or exc}")
        for tracked in self.files.values():
            if self._check_truncated(tracked):
                result.truncated.append(tracked.path)
        self._first_scan = False
        self.checkpoints = []  # unmatched checkpoints are of files gone while we were down
        return result

    def _scan_one(self, path: str, old: list[tuple[bytes, int]], result: ScanResult) -> None:
        st = os.stat(path)
        if not _is_regular(st.st_mode):
            return
        known = self.files.get((st.st_dev, st.st_ino))
        if known is not None:
            known.seen = True
            known.path = path
            return
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            head = os.pread(fd, self.fingerprint_size, 0)
            offset = self._start_offset(head, st, old)
        except BaseException:
            os.close(fd)
            raise
        cursor = Cursor(offset=offset)
        tracked = TrackedFile(path, st.st_dev, st.st_ino, fd, head, cursor, self._attributes(path))
        self.files[tracked.key] = tracked
        result.opened.append(path)

    def _start_offset(self, head: bytes, st: os.stat_result, old: list[tuple[bytes, int]]) -> int:
        entry = self._take_checkpoint(head, st)
        if entry is not None:
            offset = int(entry.get("offset", 0))
            return offset if 0 <= offset <= st.st_size else 0
        for fingerprint, committed in old:  # a copy of a file we are reading (copytruncate)
            if fingerprint and head.startswith(fingerprint):
                return min(committed, st.st_size)
        if self._first_scan and self.start_at == "end":
            return st.st_size
        return 0

    def _take_checkpoint(self, head: bytes, st: os.stat_result) -> dict[str, Any] | None:
        matches = [c for c in self.checkpoints if isinstance(c["fp"], bytes) and head.startswith(c["fp"])]
        if not matches:
            return None
        same_inode = [c for c in matches if (c.get("dev"), c.get("ino")) == (st.st_dev, st.st_ino)]
        entry = (same_inode or matches)[0]
        self.checkpoints.remove(entry)
        return entry

    def _check_truncated(self, tracked: TrackedFile) -> bool:
        """Same inode, but shorter than what was read or with different first bytes: start over."""
        st = os.fstat(tracked.fd)
        head = os.pread(tracked.fd, len(tracked.fingerprint), 0) if tracked.fingerprint else b""
        if st.st_size >= tracked.cursor.offset and head == tracked.fingerprint:
            return False
        tracked.cursor = Cursor(offset=0)
        tracked.fingerprint = os.pread(tracked.fd, self.fingerprint_size, 0)
        return True

    def grow_fingerprint(self, tracked: TrackedFile) -> None:
        """Extend a short fingerprint once the file has more bytes (blocking)."""
        if len(tracked.fingerprint) < self.fingerprint_size:
            tracked.fingerprint = os.pread(tracked.fd, self.fingerprint_size, 0)

    def forget(self, tracked: TrackedFile) -> None:
        tracked.close()
        self.files.pop(tracked.key, None)

    def checkpoint_state(self) -> list[dict[str, Any]]:
        """What to persist: the committed position of every open file that has a fingerprint."""
        return [f.checkpoint() for f in self.files.values() if f.fingerprint]

    def close_all(self) -> None:
        for tracked in list(self.files.values()):
            tracked.close()
        self.files.clear()


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
