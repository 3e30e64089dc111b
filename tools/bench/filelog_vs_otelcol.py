"""Log forwarding benchmark: edge-agent's filelog vs otelcol-contrib's filelog, same file, same upstream.

Generates a log file of realistic nginx access lines (default 200 MB), then
runs, one after the other (2 shared cores: never both at once):

* ``edge-agent run`` with ``filelog`` (start_at = beginning) -> exporter ->
  rotel (``--exporter blackhole``);
* otelcol-contrib: ``filelog`` (start_at: beginning) -> ``batch`` ->
  ``otlphttp`` -> the same rotel.

Completion is read from each collector's own counters (edge-agent:
``edge_agent_records_exported_total{signal="logs"}`` on its admin endpoint;
otelcol: ``otelcol_exporter_sent_log_records_total``). CPU is utime+stime
from ``/proc/<pid>/stat`` at completion (startup included for both), peak
RSS is ``VmHWM`` from ``/proc/<pid>/status``.

Usage: python tools/bench/filelog_vs_otelcol.py [--mb 200] [--keep DIR] [--compression gzip|zstd|none]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.peers import find  # noqa: E402
from tools.mtlspeers import Rotel, free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def generate(path: Path, megabytes: int) -> int:
    """Write nginx combined-format lines until the file reaches ``megabytes``; return the line count."""
    rng = random.Random(42)
    paths = [f"/api/v1/{r}/{i}" for r in ("items", "users", "orders", "carts") for i in range(50)]
    paths += ["/", "/index.html", "/static/app.js", "/static/style.css", "/healthz", "/metrics"]
    agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "curl/8.5.0",
        "Prometheus/2.42.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    ]
    statuses = [200] * 20 + [201, 204, 301, 304, 400, 401, 404, 404, 500, 503]
    target = megabytes * 1_000_000
    lines = 0
    size = 0
    with path.open("w") as out:
        while size < target:
            chunk = []
            for _ in range(10_000):
                ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                sec = lines % 60
                line = (
                    f"{ip} - - [27/Nov/2026:10:{(lines // 60) % 60:02d}:{sec:02d} +0000] "
                    f'"{rng.choice(("GET", "GET", "GET", "POST", "PUT"))} '
                    f'{rng.choice(paths)}?id={rng.randrange(10**6)} HTTP/1.1" '
                    f'{rng.choice(statuses)} {rng.randrange(100, 50_000)} "-" "{rng.choice(agents)}" '
                    f"rt={rng.random():.3f}\n"
                )
                chunk.append(line)
                lines += 1
            text = "".join(chunk)
            out.write(text)
            size += len(text)
    return lines


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def peak_rss_mib(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def counter(url: str, pattern: str) -> float:
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if re.match(pattern, line):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Result:
    name: str
    lines: int
    seconds: float
    cpu: float
    rss_mib: float

    @property
    def lines_per_cpu_s(self) -> float:
        return self.lines / self.cpu


def wait_done(
    proc: subprocess.Popen[bytes], url: str, pattern: str, lines: int, name: str, timeout: float
) -> Result:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited early with {proc.returncode}")
        done = counter(url, pattern)
        if done >= lines:
            return Result(
                name, lines, time.monotonic() - started, cpu_seconds(proc.pid), peak_rss_mib(proc.pid)
            )
        time.sleep(0.2)
    raise SystemExit(f"{name}: only {counter(url, pattern):.0f} of {lines} lines after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_ours(
    work: Path, logfile: Path, lines: int, rotel_port: int, compression: str, read_chunk: str = "512KiB"
) -> Result:
    admin = free_port()
    config = work / "agent.toml"
    config.write_text(
        f"""
[agent]
state_dir = "{work / "agent-state"}"
[admin]
endpoint = "127.0.0.1:{admin}"
[self_telemetry]
enabled = false
[exporter]
endpoint = "http://127.0.0.1:{rotel_port}"
compression = "{compression}"
[plugins.hostmetrics]
enabled = false
[plugins.filelog]
include = ["{logfile}"]
start_at = "beginning"
read_chunk = "{read_chunk}"
"""
    )
    with (work / "agent.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        pattern = r'^edge_agent_records_exported_total\{signal="logs"\}'
        return wait_done(proc, f"http://127.0.0.1:{admin}/metrics", pattern, lines, "edge-agent", 1800)
    finally:
        stop(proc)


def run_otelcol(
    work: Path, binary: Path, logfile: Path, lines: int, rotel_port: int, compression: str
) -> Result:
    metrics = free_port()
    config = work / "otelcol.yaml"
    config.write_text(
        f"""
receivers:
  filelog:
    include: [{logfile}]
    start_at: beginning
processors:
  batch: {{}}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{rotel_port}
    compression: {compression if compression != "none" else "none"}
service:
  telemetry:
    metrics:
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {metrics}}}}}}}
  pipelines:
    logs: {{receivers: [filelog], processors: [batch], exporters: [otlphttp]}}
"""
    )
    with (work / "otelcol.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "--config", str(config)], stdout=log, stderr=log, start_new_session=True
        )
    try:
        pattern = r"^otelcol_exporter_sent_log_records_total"
        return wait_done(proc, f"http://127.0.0.1:{metrics}/metrics", pattern, lines, "otelcol-contrib", 1800)
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir, removed)")
    parser.add_argument("--compression", default="gzip", choices=["gzip", "zstd", "none"])
    parser.add_argument("--only", choices=["ours", "otelcol"], help="run one side only (profiling)")
    parser.add_argument("--read-chunk", default="512KiB", help="filelog read_chunk for edge-agent")
    args = parser.parse_args()
    rotel, otelcol = find("rotel"), find("otelcol-contrib")
    if rotel is None or otelcol is None:
        raise SystemExit("needs rotel and otelcol-contrib (pip install -e '.[test]')")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-filelog-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        logfile = work / "access.log"
        started = time.monotonic()
        lines = generate(logfile, args.mb)
        took = time.monotonic() - started
        print(f"generated {logfile.stat().st_size / 1e6:.0f} MB, {lines} lines in {took:.1f}s")
        upstream = Rotel(rotel, work / "rotel", sink_port=0)  # blackhole: decodes and drops
        upstream.start()
        rotel_port = upstream.port
        results = []
        try:
            if args.only != "otelcol":
                results.append(
                    run_ours(
                        fresh(work / "ours"), logfile, lines, rotel_port, args.compression, args.read_chunk
                    )
                )
            if args.only != "ours":
                results.append(
                    run_otelcol(
                        fresh(work / "otelcol"), otelcol, logfile, lines, rotel_port, args.compression
                    )
                )
        finally:
            upstream.stop()
        report(results, args)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def fresh(directory: Path) -> Path:
    """An empty directory: a leftover checkpoint would make the agent resume instead of reading it all."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def report(results: list[Result], args: argparse.Namespace) -> None:
    done = results
    print(f"\n{args.mb} MB nginx access log, compression {args.compression}, upstream rotel blackhole\n")
    print("| collector | lines | wall s | CPU s | lines / CPU-s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in done:
        rate = f"{r.lines_per_cpu_s:,.0f}"
        print(f"| {r.name} | {r.lines} | {r.seconds:.1f} | {r.cpu:.2f} | {rate} | {r.rss_mib:.1f} |")
    if len(done) == 2:
        ratio = done[0].lines_per_cpu_s / done[1].lines_per_cpu_s
        print(f"\nratio edge-agent / otelcol-contrib (lines per CPU-second): {ratio:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
