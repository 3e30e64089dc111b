"""Configuration of the buffer between plugins and the exporter (``[buffer]``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.config.units import ByteSize


def _check_min_size(value: int) -> None:
    if value < 64 * 1024:
        raise ValueError(f"must be at least 64KiB, got {value}")


@dataclass(frozen=True)
class BufferConfig:
    """``[buffer]``: bounds of the queue that holds data until it is exported."""

    max_memory_bytes: ByteSize = field(
        default=ByteSize(8 * 1024 * 1024),
        metadata={
            "help": "bytes of queued OTLP held in memory; oldest data is dropped (and counted) past it",
            "check": _check_min_size,
        },
    )
