"""The disk buffer's self-metrics (created with the agent's others in ``runtime/instruments.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.runtime.telemetry import Counter, Gauge, Histogram, Registry

FSYNC_BOUNDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


@dataclass(frozen=True)
class BufferInstruments:
    dropped: Counter  # records.dropped: signal, reason
    disk_bytes: Gauge  # signal, priority
    disk_frames: Gauge  # signal, priority
    memory_bytes: Gauge
    oldest_age: Gauge
    commits: Counter
    written: Counter
    fsync_latency: Histogram
    corrupt_bytes: Counter

    @classmethod
    def create(cls, reg: Registry, dropped: Counter) -> BufferInstruments:
        stream = ("signal", "priority")
        return cls(
            dropped=dropped,
            disk_bytes=reg.gauge("buffer.disk.bytes", "bytes of segment files", unit="By", labels=stream),
            disk_frames=reg.gauge("buffer.disk.frames", "frames in segment files", labels=stream),
            memory_bytes=reg.gauge(
                "buffer.memory.bytes", "uncompressed bytes waiting for the next commit", unit="By"
            ),
            oldest_age=reg.gauge(
                "buffer.oldest.age", "age of the oldest segment holding unsent data", unit="s"
            ),
            commits=reg.counter("buffer.commits", "group commits written"),
            written=reg.counter("buffer.written", "bytes written to segment files", unit="By"),
            fsync_latency=reg.histogram(
                "buffer.fsync.duration", "time to fsync one commit", bounds=FSYNC_BOUNDS
            ),
            corrupt_bytes=reg.counter("buffer.corrupt", "bytes of stored data skipped as damaged", unit="By"),
        )
