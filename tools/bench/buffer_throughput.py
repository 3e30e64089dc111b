"""Disk buffer benchmarks: throughput against a raw write, write amplification, CPU, replay.

    python tools/bench/buffer_throughput.py [--mb 48] [--rounds 3] [--dir /var/tmp]
                                            [--sd-mb 16] [--sd-rounds 2] [--only page-cache|sd]

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
5. Throughput on SD-card-class storage (root only, else skipped with the
   reason): the buffer and the raw baseline of 1. on an ext4 file system on a
   loop device whose writes the root blkio cgroup throttles to a Class 10 /
   A1 card's figures (see :class:`SdCard`). On a device the flash, not the
   CPU, is the limit; this is the comparison that matters there.
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
    root: Path,
    name: str,
    fragments: list[Fragment],
    total: int,
    rounds: int,
    *,
    settle: bool = False,
    **cfg: Any,
) -> list[str]:
    """Best of ``rounds`` for the buffer and for the raw baseline, alternating. ``settle``: sync
    between runs, so data one run left for writeback does not slow the next (slow devices)."""
    config = BufferConfig(**cfg)
    best_buf: dict[str, float] | None = None
    best_raw = float("inf")
    for r in range(rounds):
        directory = root / f"tp-{name}-{r}"
        if settle:
            os.sync()
        result = trio.run(buffer_run, directory, fragments, total, config)
        shutil.rmtree(directory)
        if settle:
            os.sync()
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


# -- 5: SD-card-class storage ------------------------------------------------------------


class SdUnavailable(Exception):
    """Why the SD-class measurement cannot run here (printed, and the section is skipped)."""


class SdCard:
    """An ext4 file system on a loop device throttled like a Class 10 / A1 microSD card.

    Figures (SD Association, Physical Layer Specification 5.1 and its public summaries:
    Speed Class 10 and Application Performance Class A1): at least 10 MB/s sustained
    sequential write, and (A1) 500 random 4 KiB write IOPS. Cheap cards do about that; we
    model the floor the logo promises, not a fast card. The throttle is set on the root
    blkio cgroup (v1) for the loop device, so it applies to every write bio that reaches
    the device, including the kernel's writeback of buffered data and what fsync forces
    out (checked by :meth:`check`: a buffered write + fsync runs at the throttled rate).
    The loop device uses direct I/O on its backing file, so no second page cache hides
    the throttle.

    A device-mapper ``delay`` target would add a fixed latency to every flush (SD cards
    take milliseconds per cache flush); when the kernel has no device-mapper the flush
    cost comes from the IOPS limit alone (each fsync of a small commit is a data write
    plus ext4 journal writes), which is said in the output.

    Everything set up is undone in :meth:`close` (throttle rules, mount, loop device,
    image file), each step bounded in time, also after an error.
    """

    WRITE_BPS = 10_000_000  # Class 10 / A1: 10 MB/s sustained sequential write
    WRITE_IOPS = 500  # A1: 500 random write IOPS
    IMAGE_BYTES = 1024**3  # sparse
    TIMEOUT = 60.0  # per setup or teardown command
    CGROUP = Path("/sys/fs/cgroup/blkio")

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.image: Path | None = None
        self.device: str | None = None
        self.mount: Path | None = None
        self.mounted = False
        self.rules: list[Path] = []
        self.notes: list[str] = []
        self._key = ""  # major:minor of the loop device

    def open(self) -> Path:
        if os.geteuid() != 0:
            raise SdUnavailable("needs root (loop device, mount, blkio throttle)")
        for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
            if shutil.which(tool) is None:
                raise SdUnavailable(f"{tool} is not installed")
        rule_files = [
            self.CGROUP / "blkio.throttle.write_bps_device",
            self.CGROUP / "blkio.throttle.write_iops_device",
        ]
        if not all(f.exists() for f in rule_files):
            raise SdUnavailable(f"no cgroup v1 blkio throttling at {self.CGROUP}")
        if not Path("/dev/loop-control").exists():
            raise SdUnavailable("no loop device support (/dev/loop-control)")
        try:
            with open("/dev/mapper/control", "rb"):
                pass
            self.notes.append("device-mapper is present, but only the blkio throttle is used")
        except OSError as exc:
            self.notes.append(
                f"no dm-delay: device-mapper is unavailable (/dev/mapper/control: {exc.strerror}); "
                "flush latency comes from the IOPS limit alone"
            )
        fd, name = tempfile.mkstemp(prefix="edge-buffer-sd-", suffix=".img", dir=self.parent)
        os.close(fd)
        self.image = Path(name)
        os.truncate(self.image, self.IMAGE_BYTES)
        self.device = self._run("losetup", "--find", "--show", "--direct-io=on", str(self.image)).strip()
        self._run("mkfs.ext4", "-q", "-F", self.device)
        self.mount = Path(tempfile.mkdtemp(prefix="edge-buffer-sd-mnt-", dir=self.parent))
        self._run("mount", self.device, str(self.mount))
        self.mounted = True
        rdev = os.stat(self.device).st_rdev
        self._key = f"{os.major(rdev)}:{os.minor(rdev)}"
        for rule, value in zip(rule_files, (self.WRITE_BPS, self.WRITE_IOPS), strict=True):
            self.rules.append(rule)
            rule.write_text(f"{self._key} {value}\n")
        return self.mount

    def check(self, size: int = 16_000_000) -> float:
        """MB/s of a buffered sequential write + fsync on the mount: must match the throttle."""
        assert self.mount is not None
        path = self.mount / "check.bin"
        data = os.urandom(1 << 20)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            t0 = time.perf_counter()
            for _ in range(size // len(data)):
                os.write(fd, data)
            os.fsync(fd)
            seconds = time.perf_counter() - t0
        finally:
            os.close(fd)
            path.unlink()
        return (size // len(data)) * len(data) / 1e6 / seconds

    def close(self) -> None:
        errors: list[str] = []
        for rule in self.rules:  # first: the writeback at unmount then runs at full speed
            try:
                rule.write_text(f"{self._key} 0\n")
            except OSError as exc:
                errors.append(f"removing the rule in {rule}: {exc}")
        if self.mounted and self.mount is not None:
            try:
                self._run("umount", str(self.mount))
            except SdUnavailable:
                try:
                    self._run("umount", "-l", str(self.mount))
                except SdUnavailable as exc:
                    errors.append(f"umount {self.mount}: {exc}")
        if self.device:
            try:
                self._run("losetup", "-d", self.device)
            except SdUnavailable as exc:
                errors.append(f"losetup -d {self.device}: {exc}")
        if self.mount is not None:
            try:
                self.mount.rmdir()
            except OSError as exc:
                errors.append(f"rmdir {self.mount}: {exc}")
        if self.image is not None:
            self.image.unlink(missing_ok=True)
        if errors:
            print("SD-class teardown problems (clean up by hand): " + "; ".join(errors), file=sys.stderr)

    def _run(self, *argv: str) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise SdUnavailable(f"{' '.join(argv)} did not finish within {self.TIMEOUT:g}s") from None
        if done.returncode != 0:
            raise SdUnavailable(f"{' '.join(argv)} failed: {done.stderr.strip() or done.returncode}")
        return done.stdout


def sd_class(
    parent: Path, runs: list[tuple[str, list[Fragment], dict[str, Any]]], total: int, rounds: int
) -> list[list[str]] | None:
    """The throughput rows again on an SD-class mount, or None (after saying why) when unavailable."""
    card = SdCard(parent)
    try:
        try:
            mount = card.open()
        except SdUnavailable as exc:
            print(f"SD-class measurement skipped: {exc}")
            return None
        for note in card.notes:
            print(f"SD-class: {note}")
        measured = card.check()
        print(
            f"SD-class: throttle {card.WRITE_BPS / 1e6:g} MB/s, {card.WRITE_IOPS} write IOPS on {card.device}; "
            f"buffered write + fsync measured {measured:.1f} MB/s"
        )
        if not 0.5 * card.WRITE_BPS / 1e6 <= measured <= 1.2 * card.WRITE_BPS / 1e6:
            print("SD-class measurement skipped: the throttle does not govern buffered writes + fsync here")
            return None
        rows = []
        for name, frags, cfg in runs:
            rows.append(throughput(mount, name, frags, total, rounds, settle=True, **cfg))
            print(rows[-1], flush=True)
        return rows
    finally:
        card.close()


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
    parser.add_argument("--sd-mb", type=int, default=16, help="OTLP megabytes per SD-class run (10 MB/s)")
    parser.add_argument("--sd-rounds", type=int, default=2, help="best of N on SD-class storage")
    parser.add_argument(
        "--sd-dir", default="/var/tmp", help="where the SD-class image file and mount point go (root only)"
    )
    parser.add_argument("--only", choices=["page-cache", "sd"], help="run only one throughput section")
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

        runs: list[tuple[str, list[Fragment], dict[str, Any]]] = [
            ("hostmetrics, gzip, fsync always", metrics, {"fsync": "always"}),
            ("hostmetrics, gzip, fsync interval", metrics, {"fsync": "interval"}),
            ("hostmetrics, zstd, fsync always", metrics, {"fsync": "always", "compression": "zstd"}),
            ("hostmetrics, none, fsync always", metrics, {"fsync": "always", "compression": "none"}),
            ("logs, gzip, fsync always", logs_big, {"fsync": "always"}),
            ("logs, zstd, fsync always", logs_big, {"fsync": "always", "compression": "zstd"}),
        ]
        header = [
            "run (commit_interval 1 s)",
            "buffer MB/s",
            "records/s",
            "raw MB/s",
            "buffer / raw",
            "CPU ms per MB",
            "disk / OTLP bytes",
            "commits",
        ]
        if args.only != "sd":
            print("== page cache (the disk under --dir, or a temporary directory) ==", flush=True)
            rows = []
            for name, frags, cfg in runs:
                rows.append(throughput(root, name, frags, args.mb * 1_000_000, args.rounds, **cfg))
                print(rows[-1], flush=True)
            print()
            print(table(header, rows))
            print()
        if args.only != "page-cache":
            print("== SD-class storage (Class 10 / A1 throttle on a loop device) ==", flush=True)
            sd_rows = sd_class(Path(args.sd_dir), runs, args.sd_mb * 1_000_000, args.sd_rounds)
            if sd_rows is not None:
                print()
                print(table(header, sd_rows))
            print()
        if args.only is not None:
            return
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
