"""Disk buffer benchmarks: throughput against a raw write, write amplification, CPU, replay.

    python tools/bench/buffer_throughput.py [--mb 48] [--rounds 3] [--dir /var/tmp]

Everything is measured in the same run, against baselines measured in the
same run (two noisy shared cores: compare ratios, not absolute numbers).

1. Throughput: OTLP bytes pushed through ``DiskBuffer.append`` as fast as it
   takes them (commit_interval 1 s, fsync always / interval), against a raw
   sequential write of the same bytes with the same number of fsyncs.
2. Write amplification at a realistic rate: host metrics (the hostmetrics
   plugin's real output, one scrape per 10 s) and logs (real lines from
   /var/log, 50 a second), on a virtual clock; bytes written to the buffer
   directory (segments and state) per OTLP byte accepted, and the block-layer
   figure from /proc/self/io.
3. CPU seconds per MB accepted (process CPU time, all threads).
4. Replay: a backlog on disk read back into batches (reader only), and sent
   by the real exporter to a counting OTLP sink in another process.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge_agent.buffer.config import BufferConfig
from edge_agent.buffer.disk import DiskBuffer
from edge_agent.buffer.instruments import BufferInstruments
from edge_agent.buffer.store import SegmentStore
from edge_agent.export.config import ExporterConfig
from edge_agent.export.exporter import Exporter
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.resource import host_resource
from edge_agent.runtime.telemetry import Registry
from tools.mtlspeers import free_port, wait_listening

RESOURCE = attributes.resource(host_resource("bench-device", {}))
LOG_FILES = (
    "/var/log/dpkg.log",
    "/var/log/apt/term.log",
    "/var/log/alternatives.log",
    "/var/log/apt/history.log",
)


# -- payloads -----------------------------------------------------------------


def hostmetrics_fragments(n: int) -> list[Fragment]:
    """``n`` real scrapes of the hostmetrics plugin (values move between scrapes, as on a device)."""
    from edge_agent_plugins.hostmetrics import HostMetrics, HostMetricsConfig

    scope = attributes.scope("edge_agent.hostmetrics", HostMetrics.version)

    class Ctx:
        def metrics(self, *, time_ns: int | None = None) -> MetricsBuilder:
            return MetricsBuilder(RESOURCE, scope, time_ns=time_ns or time.time_ns(), start_time_ns=1)

    plugin = HostMetrics(HostMetricsConfig())
    ctx: Any = Ctx()
    plugin.setup(ctx)
    out = []
    for _ in range(n):
        out.extend(f.with_priority(Priority.NORMAL) for f in plugin.scrape(ctx))
        time.sleep(0.002)
    return out


def log_lines() -> list[str]:
    """Real log lines from this machine's /var/log (text files only)."""
    lines: list[str] = []
    for name in LOG_FILES:
        try:
            lines.extend(x for x in Path(name).read_text(errors="replace").splitlines() if x.strip())
        except OSError:
            continue
    if len(lines) < 1000:
        raise SystemExit("need real log lines: none of " + ", ".join(LOG_FILES) + " is readable")
    return lines


def log_fragments(lines: list[str], per_fragment: int, count: int) -> list[Fragment]:
    scope = attributes.scope("edge_agent.filelog", "1")
    out = []
    pos = 0
    for i in range(count):
        b = LogsBuilder(RESOURCE, scope)
        for j in range(per_fragment):
            now = time.time_ns() + i * 1_000_000_000 + j
            b.record(
                lines[pos % len(lines)], time_ns=now, observed_time_ns=now, severity=9, severity_text="INFO"
            )
            pos += 1
        out.append(b.build().with_priority(Priority.BULK))
    return out


def cycle(fragments: list[Fragment], total: int) -> Iterator[Fragment]:
    sent = 0
    while sent < total:
        for fragment in fragments:
            yield fragment
            sent += len(fragment.payload)
            if sent >= total:
                return


# -- helpers ------------------------------------------------------------------


def instruments() -> BufferInstruments:
    reg = Registry()
    return BufferInstruments.create(reg, reg.counter("records.dropped", "", labels=("signal", "reason")))


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def block_writes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def dir_bytes_written(inst: BufferInstruments, state_writes: int, state_size: int) -> int:
    return int(inst.written.total()) + state_writes * state_size


# -- 1 and 3: throughput and CPU ----------------------------------------------------


async def buffer_run(
    directory: Path, fragments: list[Fragment], total: int, cfg: BufferConfig
) -> dict[str, float]:
    inst = instruments()
    buf = DiskBuffer(cfg, directory, inst)
    records = accepted = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        for fragment in cycle(fragments, total):
            await buf.append(fragment)
            records += fragment.records
            accepted += len(fragment.payload)
        await buf.flush()
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        nursery.cancel_scope.cancel()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "bytes": accepted,
        "records": records,
        "commits": inst.commits.total(),
        "written": inst.written.total(),
    }


def raw_run(path: Path, fragments: list[Fragment], total: int, commits: int, fsync_every: int) -> float:
    """Write the same OTLP bytes sequentially in ``commits`` groups, fsync every ``fsync_every`` groups."""
    group = max(1, total // max(1, int(commits)))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    t0 = time.perf_counter()
    pending: list[bytes] = []
    size = groups = 0
    for fragment in cycle(fragments, total):
        pending.append(fragment.payload)
        size += len(fragment.payload)
        if size >= group:
            os.write(fd, b"".join(pending))
            pending, size, groups = [], 0, groups + 1
            if groups % fsync_every == 0:
                os.fsync(fd)
    if pending:
        os.write(fd, b"".join(pending))
    os.fsync(fd)
    seconds = time.perf_counter() - t0
    os.close(fd)
    path.unlink()
    return seconds


def throughput(
    root: Path, name: str, fragments: list[Fragment], total: int, rounds: int, **cfg: Any
) -> list[str]:
    config = BufferConfig(**cfg)
    best_buf: dict[str, float] | None = None
    best_raw = float("inf")
    for r in range(rounds):
        directory = root / f"tp-{name}-{r}"
        result = trio.run(buffer_run, directory, fragments, total, config)
        shutil.rmtree(directory)
        fsync_every = (
            1
            if config.fsync == "always"
            else max(1, int(result["commits"] * config.fsync_interval / result["seconds"]))
        )
        raw = raw_run(root / "raw.bin", fragments, total, int(result["commits"]), fsync_every)
        if best_buf is None or result["seconds"] < best_buf["seconds"]:
            best_buf = result
        best_raw = min(best_raw, raw)
    assert best_buf is not None
    mb = best_buf["bytes"] / 1e6
    return [
        name,
        f"{mb / best_buf['seconds']:.1f}",
        f"{best_buf['records'] / best_buf['seconds']:,.0f}",
        f"{mb / best_raw:.1f}",
        f"{best_raw / best_buf['seconds']:.2f}",
        f"{best_buf['cpu'] / mb * 1000:.1f}",
        f"{best_buf['written'] / best_buf['bytes']:.3f}",
        f"{best_buf['commits']:.0f}",
    ]


# -- 2: write amplification at a realistic rate ------------------------------------------


class CountingStore(SegmentStore):
    """The real store, counting the bytes of state and acknowledgement-log writes."""

    metadata_bytes = 0

    def write_state(self, data: bytes) -> None:
        CountingStore.metadata_bytes += len(data)
        super().write_state(data)

    def append_acks(self, data: bytes) -> None:
        CountingStore.metadata_bytes += len(data)
        super().append_acks(data)


async def steady(
    directory: Path, fragments: list[Fragment], interval: float, online: bool
) -> dict[str, float]:
    """One fragment per ``interval`` on a virtual clock, each in its own group commit (as the 1 s
    commit would make it); ``online`` = an exporter acknowledges every frame."""
    inst = instruments()
    buf = DiskBuffer(BufferConfig(), directory, inst)
    buf._s.store = CountingStore(directory)  # the same store, counting metadata writes
    buf._reader._store = buf._s.store
    accepted = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        CountingStore.metadata_bytes = 0
        io0 = block_writes()
        for fragment in fragments:
            assert buf.offer(fragment)
            accepted += len(fragment.payload)
            await buf.commit()
            if online:
                buf.ack(await buf.next_batch(max_bytes=512 * 1024))
            await trio.sleep(interval)
        io = block_writes() - io0
        state = CountingStore.metadata_bytes
        nursery.cancel_scope.cancel()
    return {"accepted": accepted, "segments": inst.written.total(), "state": state, "block": io}


def amplification(
    root: Path, name: str, fragments: list[Fragment], interval: float, online: bool
) -> list[str]:
    directory = root / f"wa-{name}"
    clock = trio.testing.MockClock(autojump_threshold=0)
    r = trio.run(steady, directory, fragments, interval, online, clock=clock)
    shutil.rmtree(directory)
    logical = (r["segments"] + r["state"]) / r["accepted"]
    return [
        name,
        f"{r['accepted'] / len(fragments):,.0f}",
        f"{r['segments'] / r['accepted']:.3f}",
        f"{r['state'] / r['accepted']:.3f}",
        f"{logical:.3f}",
        f"{r['block'] / r['accepted']:.2f}",
    ]


# -- 4: replay ------------------------------------------------------------------------------


async def fill(directory: Path, fragments: list[Fragment], total: int) -> None:
    buf = DiskBuffer(BufferConfig(max_disk_bytes=4 * 1024**3, fsync="never"), directory, instruments())
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        for fragment in cycle(fragments, total):
            await buf.append(fragment)
        await buf.flush()
        nursery.cancel_scope.cancel()


async def read_back(directory: Path) -> dict[str, float]:
    buf = DiskBuffer(BufferConfig(max_disk_bytes=4 * 1024**3), directory, instruments())
    raw = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        t0 = time.perf_counter()
        while any(buf.queued_records().values()):
            batch = await buf.next_batch(max_bytes=512 * 1024)
            raw += batch.raw_size
            buf.ack(batch)
        seconds = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return {"seconds": seconds, "raw": raw}


async def export_to_sink(directory: Path, endpoint: str) -> dict[str, float]:
    inst = AgentInstruments.create()
    buf = DiskBuffer(BufferConfig(max_disk_bytes=4 * 1024**3), directory, inst.buffer)
    exporter = Exporter(ExporterConfig(endpoint=endpoint), buf, inst.export)
    await exporter.prepare()
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        total = sum(buf.queued_records().values())
        t0 = time.perf_counter()
        await nursery.start(exporter.run)
        await buf.wait_drained()
        seconds = time.perf_counter() - t0
        sent = inst.export.sent_bytes.total()
        nursery.cancel_scope.cancel()
    return {"seconds": seconds, "records": total, "wire": sent}


def replay(root: Path, fragments: list[Fragment], total: int) -> list[list[str]]:
    directory = root / "replay"
    trio.run(fill, directory, fragments, total)
    backup = root / "replay-copy"
    shutil.copytree(directory, backup)
    rows = []
    r = trio.run(read_back, directory)
    rows.append(
        ["read + merge into 512 KiB batches (no network)", f"{r['raw'] / 1e6 / r['seconds']:.1f}", "-"]
    )
    shutil.rmtree(directory)
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.testing", "sink", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        r = trio.run(export_to_sink, backup, f"http://127.0.0.1:{port}")
    finally:
        sink.terminate()
        sink.wait()
    shutil.rmtree(backup)
    rows.append(
        [
            "exporter -> OtlpSink (other process, decodes every request)",
            f"{total / 1e6 / r['seconds']:.1f}",
            f"{r['records'] / r['seconds']:,.0f}",
        ]
    )
    return rows


# -- report -----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=48, help="OTLP megabytes per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="best of N for throughput")
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="edge-buffer-bench-", dir=args.dir))
    total = args.mb * 1_000_000
    try:
        print("collecting payloads (hostmetrics plugin scrapes, /var/log lines)...", flush=True)
        metrics = hostmetrics_fragments(400)
        lines = log_lines()
        logs_1s = log_fragments(lines, 50, 360)
        logs_big = log_fragments(lines, 500, 200)
        random.Random(1).shuffle(logs_big)
        print(
            f"hostmetrics scrape: {sum(len(f.payload) for f in metrics) / len(metrics):,.0f} bytes, "
            f"{metrics[0].records} data points; log line: {sum(map(len, lines)) / len(lines):.0f} chars"
        )

        rows = []
        for name, frags, cfg in [
            ("hostmetrics, gzip, fsync always", metrics, {"fsync": "always"}),
            ("hostmetrics, gzip, fsync interval", metrics, {"fsync": "interval"}),
            ("hostmetrics, zstd, fsync always", metrics, {"fsync": "always", "compression": "zstd"}),
            ("hostmetrics, none, fsync always", metrics, {"fsync": "always", "compression": "none"}),
            ("logs, gzip, fsync always", logs_big, {"fsync": "always"}),
            ("logs, zstd, fsync always", logs_big, {"fsync": "always", "compression": "zstd"}),
        ]:
            rows.append(throughput(root, name, frags, total, args.rounds, **cfg))
            print(rows[-1], flush=True)
        print()
        print(
            table(
                [
                    "run (commit_interval 1 s)",
                    "buffer MB/s",
                    "records/s",
                    "raw MB/s",
                    "buffer / raw",
                    "CPU ms per MB",
                    "disk / OTLP bytes",
                    "commits",
                ],
                rows,
            )
        )
        print()
        wa = [
            amplification(root, "hostmetrics every 10 s, offline", metrics[:360], 10.0, False),
            amplification(root, "hostmetrics every 10 s, online (acked)", metrics[:360], 10.0, True),
            amplification(root, "logs 50 lines/s, offline", logs_1s, 1.0, False),
            amplification(root, "logs 50 lines/s, online (acked)", logs_1s, 1.0, True),
        ]
        print(
            table(
                [
                    "payload (default gzip, fsync always)",
                    "OTLP bytes per commit",
                    "segments / OTLP",
                    "state / OTLP",
                    "write amplification",
                    "block layer / OTLP",
                ],
                wa,
            )
        )
        print()
        print(
            table(["replay of a hostmetrics backlog", "OTLP MB/s", "records/s"], replay(root, metrics, total))
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
