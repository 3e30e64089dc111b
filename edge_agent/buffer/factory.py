"""Choosing and building the buffer the agent runs with (``buffer.kind``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_agent.buffer.api import Encoding, ManagedBuffer
from edge_agent.buffer.config import BufferConfig
from edge_agent.buffer.instruments import BufferInstruments

BUFFER_SUBDIR = "buffer"


def buffer_directory(config: BufferConfig, state_dir: Path) -> Path:
    """``buffer.dir``, else ``<state_dir>/buffer``."""
    return Path(config.dir) if config.dir else state_dir / BUFFER_SUBDIR


def wire_encoding(exporter_compression: str) -> Encoding:
    """The body encoding the exporter sends, as the buffer names it."""
    if exporter_compression == "gzip":
        return "gzip"
    if exporter_compression == "zstd":
        return "zstd"
    return "identity"


def open_buffer(
    config: BufferConfig,
    state_dir: Path,
    instruments: BufferInstruments,
    *,
    exporter_compression: str,
    wall_ns: Callable[[], int],
) -> ManagedBuffer:
    """The configured buffer; no I/O happens until its ``run`` starts."""
    if config.kind == "memory":
        from edge_agent.buffer.memory import MemoryBuffer

        return MemoryBuffer(config.max_memory_bytes, instruments.dropped)
    from edge_agent.buffer.disk import DiskBuffer

    return DiskBuffer(
        config,
        buffer_directory(config, state_dir),
        instruments,
        wire=wire_encoding(exporter_compression),
        wall_ns=wall_ns,
    )
