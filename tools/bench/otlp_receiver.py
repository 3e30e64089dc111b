"""OTLP receiver benchmark: spans accepted and committed per agent CPU-second, and p99 latency at half load.

Runs ``edge-agent run`` (otlp receiver -> buffer -> exporter -> rotel with
``--exporter blackhole``) and drives it with pre-encoded 512-span
``ExportTraceServiceRequest`` bodies (built with opentelemetry-proto, ~100
bytes of attributes per span) over keep-alive HTTP/1.1 connections:

1. **saturation**: ``--connections`` clients send back to back for
   ``--seconds``; spans answered 200 / agent CPU seconds (utime+stime from
   ``/proc/<pid>/stat``) over the phase;
2. **half load**: an open-loop sender at 50% of the saturation request rate
   for ``--seconds``; p50/p99 of request latency (send start -> 200).

At the end it checks that the agent's exporter delivered every accepted span
(``edge_agent_records_exported_total{signal="traces"}``).

Usage: python tools/bench/otlp_receiver.py [--seconds 10] [--connections 4]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.peers import find  # noqa: E402
from tools.bench.filelog_vs_otelcol import cpu_seconds, peak_rss_mib  # noqa: E402
from tools.mtlspeers import Rotel, free_port  # noqa: E402

SPANS = 512


def request_body() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "bench-app"
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    for i in range(SPANS):
        span = ss.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = f"GET /api/v1/items/{i % 50}"
        span.kind = 2
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i * 1000
        span.end_time_unix_nano = span.start_time_unix_nano + 250_000
        for key, value in (
            ("http.method", "GET"),
            ("http.route", "/api/v1/items/{id}"),
            ("net.peer.ip", "10.1.2.3"),
        ):
            attr = span.attributes.add()
            attr.key, attr.value.string_value = key, value
        attr = span.attributes.add()
        attr.key, attr.value.int_value = "http.status_code", 200
    return request.SerializeToString()


class Client:
    """A deliberately cheap keep-alive client: the request bytes are built once, the reply parsed minimally,
    so the load generator does not starve the agent of the machine's two cores."""

    def __init__(self, stream: trio.SocketStream, body: bytes) -> None:
        self.stream = stream
        head = (
            "POST /v1/traces HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.request = head.encode() + body
        self.buffer = b""

    async def post(self) -> int:
        await self.stream.send_all(self.request)
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("agent closed the connection")
            self.buffer += chunk
        head = self.buffer[:end].decode("latin-1")
        length = int(re.search(r"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(self.buffer) < end + 4 + length:
            self.buffer += await self.stream.receive_some(65536)
        self.buffer = self.buffer[end + 4 + length :]
        return int(head.split(" ", 2)[1])


async def saturate(port: int, body: bytes, connections: int, seconds: float) -> int:
    ok = 0

    async def worker() -> None:
        nonlocal ok
        client = Client(await trio.open_tcp_stream("127.0.0.1", port), body)
        deadline = trio.current_time() + seconds
        while trio.current_time() < deadline:
            if await client.post() == 200:
                ok += 1
        await client.stream.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(worker)
    return ok


async def paced(port: int, body: bytes, rate: float, seconds: float, connections: int) -> list[float]:
    """Open loop: request i is due at i/rate; latency counts from its due time (no coordinated omission)."""
    latencies: list[float] = []
    start = trio.current_time() + 0.2
    total = int(rate * seconds)
    pool = trio.open_memory_channel[Client](connections)
    for _ in range(connections):
        pool[0].send_nowait(Client(await trio.open_tcp_stream("127.0.0.1", port), body))

    async def one(due: float) -> None:
        client = await pool[1].receive()
        if await client.post() == 200:
            latencies.append(trio.current_time() - due)
        pool[0].send_nowait(client)

    async with trio.open_nursery() as nursery:
        for i in range(total):
            due = start + i / rate
            await trio.sleep_until(due)
            nursery.start_soon(one, due)
    return latencies


def exported(admin: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2).read().decode()
    match = re.search(r'^edge_agent_records_exported_total\{signal="traces"\} (\S+)', text, re.M)
    return float(match.group(1)) if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--compression", default="gzip", choices=["gzip", "zstd", "none"], help="agent exporter"
    )
    args = parser.parse_args()
    rotel = find("rotel")
    if rotel is None:
        raise SystemExit("needs rotel (pip install -e '.[test]')")
    work = Path(tempfile.mkdtemp(prefix="bench-otlp-"))
    body = request_body()
    port, admin = free_port(), free_port()
    upstream = Rotel(rotel, work / "rotel", sink_port=0)  # blackhole: decodes and drops
    upstream.start()
    (work / "agent.toml").write_text(
        f"""
[agent]
state_dir = "{work / "state"}"
[admin]
endpoint = "127.0.0.1:{admin}"
[self_telemetry]
enabled = false
[exporter]
endpoint = "http://127.0.0.1:{upstream.port}"
compression = "{args.compression}"
[plugins.hostmetrics]
enabled = false
[plugins.otlp]
endpoint = "127.0.0.1:{port}"
"""
    )
    procs = []
    try:
        with (work / "agent.log").open("wb") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config", str(work / "agent.toml")],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            procs.append(agent)
        time.sleep(2.0)
        warm = trio.run(saturate, port, body, 2, 1.0)
        cpu0 = cpu_seconds(agent.pid)
        wall0 = time.monotonic()
        ok = trio.run(saturate, port, body, args.connections, args.seconds)
        cpu, wall = cpu_seconds(agent.pid) - cpu0, time.monotonic() - wall0
        rate = ok / wall
        drain_deadline = time.monotonic() + 30  # start the half-load phase with an empty buffer
        while exported(admin) < (warm + ok) * SPANS and time.monotonic() < drain_deadline:
            time.sleep(0.1)
        latencies = sorted(trio.run(paced, port, body, rate / 2, args.seconds, args.connections * 4))
        deadline = time.monotonic() + 30
        accepted = (warm + ok + len(latencies)) * SPANS
        while exported(admin) < accepted and time.monotonic() < deadline:
            time.sleep(0.2)
        print(
            f"request: {SPANS} spans, {len(body)} bytes protobuf; {args.connections} connections; "
            f"{args.seconds:g}s phases; exporter compression {args.compression}"
        )
        print("\n| measure | value |\n|---|---:|")
        print(f"| spans accepted+committed per agent CPU-second | {ok * SPANS / cpu:,.0f} |")
        print(f"| spans/s at saturation (wall) | {ok * SPANS / wall:,.0f} |")
        print(f"| agent CPU utilisation at saturation | {cpu / wall:.2f} cores |")
        print(f"| half load: requests/s offered | {rate / 2:,.1f} |")
        print(f"| half load: p50 latency | {statistics.median(latencies) * 1000:.1f} ms |")
        print(f"| half load: p99 latency | {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms |")
        print(f"| agent peak RSS | {peak_rss_mib(agent.pid):.1f} MiB |")
        print(
            f"| exported upstream / accepted (all phases) | {exported(admin):,.0f} / {accepted:,.0f} spans |"
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        upstream.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
