"""Static request headers, some read from secret files; values are never shown.

``exporter.headers`` holds literal values; ``exporter.headers_from_file``
maps a header name to a file (e.g. an API key delivered as a systemd
credential) whose content, without the trailing newline, is the value.
Secret files follow the private-key rule: not accessible to every user.
Files are re-read when they change (same poll as the TLS files), so an API
key rotates without a restart; a bad new file is refused and the old value
stays in use.

Nothing here ever logs, formats or returns a header value except
:meth:`HeaderSet.pairs`, which the HTTP client puts on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import trio

from edge_agent.errors import ConfigError
from edge_agent.tls.files import FileStamp, check_private, read_text, resolve_path, stamps

log = logging.getLogger("edge_agent.exporter")


def _check_value(name: str, value: str, key: str) -> None:
    if not value:
        raise ConfigError(f"the value of header {name!r} is empty", key=key)
    if any(ch in value for ch in "\r\n\0") or not value.isascii():
        raise ConfigError(
            f"the value of header {name!r} contains line breaks or non-ASCII characters "
            "(the value itself is not shown)",
            key=key,
        )


class HeaderSet:
    def __init__(self, static: Mapping[str, str], from_file: Mapping[str, str], environ: Mapping[str, str]):
        for name, value in static.items():
            _check_value(name, value, f"exporter.headers.{name}")
        self._static = dict(static)
        self._configured = dict(from_file)
        self._environ = environ
        self._paths: dict[str, Path] = {}  # resolved in load() (a worker thread: it may stat files)
        self._from_file: dict[str, str] = {}
        self._stamps: tuple[FileStamp, ...] = ()
        self._refused: tuple[FileStamp, ...] | None = None

    def names(self) -> list[str]:
        """Header names only, for ``/status``."""
        return sorted({*self._static, *self._configured})

    def has_files(self) -> bool:
        return bool(self._configured)

    def pairs(self) -> list[tuple[str, str]]:
        return [*self._static.items(), *self._from_file.items()]

    def _read_all(self) -> tuple[dict[str, str], tuple[FileStamp, ...]]:
        """Blocking: read every header file (raises ConfigError naming the header)."""
        paths = tuple(self._paths.values())
        before = stamps(paths)
        values = {}
        for name, path in self._paths.items():
            key = f"exporter.headers_from_file.{name}"
            check_private(path, key=key)
            value = read_text(path, key=key, what="header file").strip()
            _check_value(name, value, key)
            values[name] = value
        return values, before

    def load(self) -> None:
        """Blocking initial load; errors propagate (the agent cannot start without its headers)."""
        self._paths = {
            name: resolve_path(path, self._environ, key=f"exporter.headers_from_file.{name}")
            for name, path in self._configured.items()
        }
        self._from_file, self._stamps = self._read_all()

    async def reload_if_changed(self) -> bool:
        paths = tuple(self._paths.values())
        if not paths:
            return False
        current = await trio.to_thread.run_sync(stamps, paths)
        if current in (self._stamps, self._refused):
            return False
        try:
            values, read_stamps = await trio.to_thread.run_sync(self._read_all)
        except ConfigError as exc:
            self._refused = current
            log.error("changed header file refused, the previous value stays in use: %s", exc)
            return False
        self._from_file, self._stamps, self._refused = values, read_stamps, None
        log.info("re-read header files (%s); new requests use the new values", ", ".join(sorted(values)))
        return True

    @property
    def files(self) -> list[Path]:
        return list(self._paths.values())
