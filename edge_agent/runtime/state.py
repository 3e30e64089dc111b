"""Small persistent key-value state: one CBOR file per owner, replaced atomically.

Writes go to ``<file>.tmp``, are fsynced, renamed over the file, and the
directory is fsynced, so after power loss the file holds either the old or
the new state, never a torn mix. A file that fails to decode (a disk that
lied about fsync) is moved aside to ``<file>.corrupt`` and the store starts
empty, with a warning: losing a checkpoint means re-reading some data
(at-least-once), never refusing to start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import cbor2
import trio

log = logging.getLogger("edge_agent.state")


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` durably (blocking; call from a worker thread)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # a leftover temp file keeps its old mode through O_CREAT
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_private_dir(directory: Path) -> Path:
    """Create ``directory`` (and parents) with mode 0700 if missing; tighten it to 0700 if it is ours.

    State, checkpoints and buffered telemetry live below it: other local
    users must not list or read them. A directory owned by someone else is
    left alone (and then the files in it are still 0600).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.stat()
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(directory, 0o700)
        log.info("tightened permissions of %s from %o to 700", directory, st.st_mode & 0o777)
    return directory


class CborStateStore:
    """Implements :class:`edge_agent.plugin_api.StateStore` over one CBOR file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = self._load()
        self._lock = trio.Lock()

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = cbor2.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("top level is not a map")
        except (cbor2.CBORDecodeError, ValueError, EOFError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            log.warning(
                "state file %s was unreadable (%s); moved to %s and starting fresh", self.path, exc, aside
            )
            return {}
        return data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def snapshot(self) -> dict[str, Any]:
        return dict(self._data)

    async def put(self, key: str, value: Any) -> None:
        await self.update({key: value})

    async def update(self, values: dict[str, Any]) -> None:
        # the lock orders writers so a slow older write can never land after a newer one
        async with self._lock:
            self._data.update(values)
            encoded = cbor2.dumps(self._data)
            await trio.to_thread.run_sync(write_atomic, self.path, encoded)
