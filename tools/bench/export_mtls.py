"""Exporter throughput: agent -> nginx (mTLS) -> rotel on loopback, against plain HTTP to rotel.

Run::

    python tools/bench/export_mtls.py                 # --spans 1000000 --rounds 3

The "agent" is a child process running the real :class:`Exporter` (TLS
stack, pool, breaker, AIMD, encoding) over a reader that hands out prepared
batches of ~8000 spans (~480 KB raw): collection and buffering are excluded.
Variants, interleaved per round so machine noise hits them alike:

* ``plain``: batches pre-compressed (gzip -6, as the disk buffer hands
  them over) sent over plain HTTP straight to rotel: the **baseline**;
* ``mtls``: the same batches through nginx terminating mutual TLS
  (``ssl_verify_client on``) in front of the same rotel;
* ``mtls+gzip``: uncompressed batches (memory buffer): the exporter gzips.

CPU seconds come from ``/proc/<pid>/stat`` (agent child: its own rusage
around the send phase; rotel and nginx master+worker: deltas over the same
interval). rotel runs ``--exporter blackhole``: it decodes and drops.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench._common import median, proc_cpu_seconds, rotel_binary
from tools.mtlspeers import Nginx, Rotel
from tools.pkilib import DevPki

FRAGMENT_SPANS = 1000
FRAGMENTS_PER_BATCH = 8


# -- child: the agent side ---------------------------------------------------


def _child(args: argparse.Namespace) -> None:
    import trio

    from edge_agent.buffer.api import Batch
    from edge_agent.export.config import ExporterConfig
    from edge_agent.export.exporter import Exporter
    from edge_agent.export.status import ExportCounters
    from edge_agent.otlp import attributes
    from edge_agent.otlp.builders import TracesBuilder
    from edge_agent.otlp.fragment import Priority, Signal
    from edge_agent.runtime.telemetry import Registry
    from edge_agent.tls.config import TlsClientConfig

    builder = TracesBuilder(attributes.resource({"host.name": "bench"}), attributes.scope("bench"))
    for i in range(FRAGMENT_SPANS):
        builder.span(
            f"op-{i % 50}",
            trace_id=(i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            start_ns=1_700_000_000_000_000_000 + i,
            end_ns=1_700_000_000_000_100_000 + i,
            attributes={"http.route": f"/api/v1/items/{i % 20}", "http.status_code": 200},
        )
    raw = builder.build().payload * FRAGMENTS_PER_BATCH
    spans_per_batch = FRAGMENT_SPANS * FRAGMENTS_PER_BATCH
    body, encoding = (gzip.compress(raw, 6), "gzip") if args.precompressed else (raw, "identity")
    batches = -(-args.spans // spans_per_batch)

    class PreparedReader:
        def __init__(self) -> None:
            self.handed = self.acked = 0
            self.done = trio.Event()

        async def next_batch(self, *, max_bytes: int) -> Batch:
            if self.handed >= batches:
                await trio.sleep_forever()
            self.handed += 1
            return Batch(Signal.TRACES, body, encoding, spans_per_batch, len(raw), Priority.NORMAL)  # type: ignore[arg-type]

        def ack(self, batch: Batch) -> None:
            self.acked += 1
            if self.acked == batches:
                self.done.set()

        def release(self, batch: Batch) -> None:
            raise SystemExit("a batch was released: the upstream failed")

        def drop(self, batch: Batch, reason: str) -> None:
            raise SystemExit(f"a batch was dropped: {reason}")

    tls = (
        TlsClientConfig(ca_file=args.ca, cert_file=args.cert, key_file=args.key)
        if args.ca
        else TlsClientConfig()
    )
    config = ExporterConfig(endpoint=args.endpoint, tls=tls)
    reader = PreparedReader()
    exporter = Exporter(config, reader, ExportCounters.create(Registry()), environ={})  # type: ignore[arg-type]

    async def run() -> dict[str, float]:
        async with trio.open_nursery() as nursery:
            await nursery.start(exporter.run)
            cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            print("start", flush=True)
            await reader.done.wait()
            wall = time.perf_counter() - wall0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            nursery.cancel_scope.cancel()
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        return {
            "spans": batches * spans_per_batch,
            "wall": wall,
            "cpu": cpu,
            "peak_rss": cpu1.ru_maxrss * 1024,
            "limit": exporter.limit(),
            "wire_bytes": exporter.pool.stats.bytes_sent,
        }

    print(json.dumps(trio.run(run)), flush=True)


# -- parent: peers and measurement ---------------------------------------------


def _nginx_cpu(nginx: Nginx) -> float:
    assert nginx.process is not None
    pids = [nginx.process.pid]
    children = Path(f"/proc/{nginx.process.pid}/task/{nginx.process.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return sum(proc_cpu_seconds(p) for p in pids)


def _run_variant(
    endpoint: str, pki: DevPki | None, precompressed: bool, spans: int, rotel: Rotel, nginx: Nginx
) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", "--endpoint", endpoint, "--spans", str(spans)]
    if pki is not None:
        files = pki.client_paths("device-1")
        args += ["--ca", str(pki.ca_file), "--cert", str(files.cert), "--key", str(files.key)]
    if precompressed:
        args.append("--precompressed")
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert rotel.process is not None
    assert child.stdout.readline().strip() == "start"
    rotel0, nginx0 = proc_cpu_seconds(rotel.process.pid), _nginx_cpu(nginx)
    result: dict[str, float] = json.loads(child.stdout.readline())
    result["rotel_cpu"] = proc_cpu_seconds(rotel.process.pid) - rotel0
    result["nginx_cpu"] = _nginx_cpu(nginx) - nginx0
    child.wait(30)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--ca", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cert", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--precompressed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return 0
    nginx_bin = Path("/usr/sbin/nginx")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pki = DevPki.create(root / "pki")
        pki.add_client("device-1")
        rotel = Rotel(rotel_binary(), root / "rotel", sink_port=0)
        rotel.start()
        nginx = Nginx(nginx_bin, root / "nginx", rotel.port, pki.ca_file, pki.server_cert, pki.server_key)
        nginx.start()
        variants = {
            "plain (baseline)": (f"http://127.0.0.1:{rotel.port}", None, True),
            "mtls": (f"https://localhost:{nginx.port}", pki, True),
            "mtls+gzip": (f"https://localhost:{nginx.port}", pki, False),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        try:
            for _ in range(args.rounds):
                for name, (endpoint, tls, pre) in variants.items():
                    results[name].append(_run_variant(endpoint, tls, pre, args.spans, rotel, nginx))
        finally:
            nginx.stop()
            rotel.stop()
    _report(results, args)
    return 0


def _report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    base = median([r["cpu"] / r["spans"] for r in results["plain (baseline)"]])
    print(f"\n{args.spans} spans per run, median of {args.rounds} rounds (CPU s per million spans)\n")
    print(
        "| variant | spans/s | agent CPU s/M | vs baseline | rotel CPU s/M | nginx CPU s/M | agent peak RSS | final concurrency |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        per_m = median([r["cpu"] / r["spans"] * 1e6 for r in runs])
        print(
            f"| {name} | {median([r['spans'] / r['wall'] for r in runs]):,.0f} | {per_m:.2f} "
            f"| {per_m / (base * 1e6):.2f}x | {median([r['rotel_cpu'] / r['spans'] * 1e6 for r in runs]):.2f} "
            f"| {median([r['nginx_cpu'] / r['spans'] * 1e6 for r in runs]):.2f} "
            f"| {median([r['peak_rss'] for r in runs]) / 2**20:.1f} MiB "
            f"| {median([r['limit'] for r in runs]):.0f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
