"""Configuration of the buffer between plugins and the exporter (``[buffer]``).

See ``docs/buffer.md`` for what each setting trades (loss windows, flash
wear, disk and memory use).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal

from edge_agent.config.units import ByteSize, Duration

MIN_DISK_BYTES = 1024 * 1024
MIN_SEGMENT_BYTES = 64 * 1024
MAX_AUTO_SEGMENT_BYTES = 8 * 1024 * 1024


def _check_min_size(value: int) -> None:
    if value < 64 * 1024:
        raise ValueError(f"must be at least 64KiB, got {value}")


def _check_disk_size(value: int) -> None:
    if value < MIN_DISK_BYTES:
        raise ValueError(f"must be at least 1MiB, got {value}")


def _check_segment_size(value: int) -> None:
    if value and value < MIN_SEGMENT_BYTES:
        raise ValueError(f"must be 0 (automatic) or at least 64KiB, got {value}")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


def _check_share(value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"must be greater than 0 and at most 1, got {value!r}")


@dataclass(frozen=True)
class BufferConfig:
    """``[buffer]``: where accepted data waits until it is exported, and its bounds."""

    kind: Literal["disk", "memory"] = field(
        default="disk",
        metadata={"help": "disk (survives restarts and power loss) or memory (diskless devices)"},
    )
    dir: str = field(default="", metadata={"help": "buffer directory; empty = <agent.state_dir>/buffer"})
    max_disk_bytes: ByteSize = field(
        default=ByteSize(128 * 1024 * 1024),
        metadata={"help": "cap on the buffer's files; works down to a few MiB", "check": _check_disk_size},
    )
    segment_bytes: ByteSize = field(
        default=ByteSize(0),
        metadata={
            "help": "segment file size, the unit the budget deletes; 0 = max_disk_bytes/32 (64KiB-8MiB)",
            "check": _check_segment_size,
        },
    )
    max_memory_bytes: ByteSize = field(
        default=ByteSize(8 * 1024 * 1024),
        metadata={
            "help": "disk: bytes waiting for the next commit (past it writers are refused); "
            "memory: bytes queued (past it the oldest are dropped and counted)",
            "check": _check_min_size,
        },
    )
    when_full: Literal["drop_oldest", "drop_newest", "block"] = field(
        default="drop_oldest",
        metadata={
            "help": "at max_disk_bytes: drop the oldest or the newest data (least important "
            "priority first), or block = refuse writers (receivers answer 503)"
        },
    )
    commit_interval: Duration = field(
        default=Duration(1.0),
        metadata={
            "help": "group commit at least this often (the loss window of scraped data)",
            "check": _check_positive,
        },
    )
    commit_bytes: ByteSize = field(
        default=ByteSize(256 * 1024),
        metadata={
            "help": "commit early once a stream has this many uncompressed bytes waiting",
            "check": _check_min_size,
        },
    )
    durable_delay: Duration = field(
        default=Duration(0.01),
        metadata={
            "help": "a durable write (a receiver acknowledging its client) waits at most this long for "
            "others to share its commit (at most commit_interval); bounds receiver latency and the "
            "fsync rate under receiver load"
        },
    )
    fsync: Literal["always", "interval", "never"] = field(
        default="always",
        metadata={
            "help": "always = fsync every commit; interval = every fsync_interval; never = leave "
            "it to the OS (see docs/buffer.md for the loss window of each)"
        },
    )
    fsync_interval: Duration = field(
        default=Duration(10.0),
        metadata={
            "help": "with fsync = interval: how often written data is fsynced",
            "check": _check_positive,
        },
    )
    compression: Literal["gzip", "zstd", "none"] = field(
        default="gzip", metadata={"help": "how frames are compressed on disk (zstd needs the zstd extra)"}
    )
    compression_level: int = field(
        default=0,
        metadata={"help": "0 = frames at level 1 (fast), merged request bodies at gzip 6 / zstd 3 (small)"},
    )
    replay: Literal["fresh_first", "fifo"] = field(
        default="fresh_first",
        metadata={
            "help": "fresh_first = send recent data first, backlog paced by backfill_share; "
            "fifo = oldest first"
        },
    )
    backfill_share: float = field(
        default=0.25,
        metadata={
            "help": "share of export capacity the backlog gets while fresh data waits",
            "check": _check_share,
        },
    )
    fresh_window: Duration = field(
        default=Duration(60.0),
        metadata={"help": "data committed this recently counts as fresh", "check": _check_positive},
    )
    block_timeout: Duration = field(
        default=Duration(5.0),
        metadata={
            "help": "how long a receiver waits for room (and for its commit) before it is told "
            "to retry (429/503)",
            "check": _check_positive,
        },
    )
    state_interval: Duration = field(
        default=Duration(5.0),
        metadata={
            "help": "how often acknowledgements are saved (a crash resends at most this much)",
            "check": _check_positive,
        },
    )
    encryption_key_file: str = field(
        default="",
        metadata={
            "help": "AES-256-GCM key (32 bytes or 64 hex digits, mode 0600) to encrypt frames at rest",
            "secret_file": True,
        },
    )

    def __post_init__(self) -> None:
        if self.compression == "zstd" and importlib.util.find_spec("zstandard") is None:
            raise ValueError(
                "buffer.compression = 'zstd' needs the zstd extra: pip install 'edge-agent[zstd]'"
            )
        if self.compression_level and not 1 <= self.compression_level <= 19:
            raise ValueError("buffer.compression_level must be 0 (default) or 1-19")
        if self.compression == "gzip" and self.compression_level > 9:
            raise ValueError("buffer.compression_level for gzip must be 1-9")
        if self.segment_bytes > self.max_disk_bytes // 4:
            raise ValueError("buffer.segment_bytes must be at most a quarter of buffer.max_disk_bytes")

    @property
    def effective_segment_bytes(self) -> int:
        if self.segment_bytes:
            return int(self.segment_bytes)
        return max(MIN_SEGMENT_BYTES, min(MAX_AUTO_SEGMENT_BYTES, self.max_disk_bytes // 32))
