"""Cost of an offline hour: agent CPU and bytes put on the wire while the upstream is unreachable.

Run::

    python tools/bench/export_offline.py                   # --real-seconds 120

Two measurements, each against a baseline measured in the same run:

1. **Simulated hour** (trio ``MockClock``, autojump): the real exporter with
   default settings (breaker 3 failures / 5 s .. 60 s, retry 5 s .. 30 s,
   housekeeping every 60 s) runs one hour of virtual time in a child process
   while 100 spans per minute are offered (collection itself is not run).
   Every wakeup, probe, connect and handshake really executes; only the idle
   waiting is skipped, so the child's CPU time *is* the hour's CPU cost.
   Scenarios: connection refused (collector host up, service down; plain
   and https), and a blackholed TLS port (TCP accepts, TLS never answers:
   handshake timeouts). Baseline: the same hour with the upstream reachable
   (an in-process sink), i.e. what delivering the same data costs.
2. **Real time**: nginx (mTLS) up, rotel down (probes get a 502 over a kept
   or new mTLS connection), for ``--real-seconds`` of wall time; CPU from
   the child's rusage, extrapolated linearly to an hour. The breaker's first minutes
   probe more often (5, 10, 20, 40 s before reaching 60 s), so the
   extrapolation over-estimates a real hour.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench._common import rotel_binary
from tools.mtlspeers import Nginx, Rotel
from tools.pkilib import DevPki


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child(args: argparse.Namespace) -> None:
    import trio
    import trio.testing

    from edge_agent.export.config import ExporterConfig
    from edge_agent.testing import OtlpSink
    from edge_agent.tls.config import TlsClientConfig
    from tests.export.harness import running_exporter, spans

    tls = (
        TlsClientConfig(ca_file=args.ca, cert_file=args.cert, key_file=args.key)
        if args.ca
        else TlsClientConfig()
    )

    async def hour() -> dict[str, float]:
        async with trio.open_nursery() as nursery:
            endpoint = args.endpoint
            if args.scenario == "reachable":
                sink = OtlpSink(keep_messages=False)
                await nursery.start(sink.serve)
                endpoint = sink.endpoint
            elif args.scenario == "blackhole":
                listeners = await nursery.start(trio.serve_tcp, _never_answer, 0)
                endpoint = f"https://localhost:{listeners[0].socket.getsockname()[1]}"
            config = ExporterConfig(
                endpoint=endpoint, tls=tls if endpoint.startswith("https") else TlsClientConfig()
            )
            async with running_exporter(config) as harness:
                start = _cpu()
                for minute in range(int(args.minutes)):
                    harness.offer([spans(100, start=minute * 100)])
                    await trio.sleep(60)
                cpu = _cpu() - start
                stats = harness.exporter.pool.stats
                result = {
                    "cpu": cpu,
                    "connects": stats.opened + stats.open_failures,
                    "requests": harness.counters.requests.total(),
                    "wire_bytes": stats.bytes_sent,
                    "request_bytes": harness.counters.attempted_bytes.total(),
                    "exported": harness.exported(),
                }
            nursery.cancel_scope.cancel()
        return result

    print(json.dumps(trio.run(hour, clock=trio.testing.MockClock(autojump_threshold=0))), flush=True)


async def _never_answer(stream: object) -> None:
    import trio

    await trio.sleep_forever()


def _simulated(scenario: str, endpoint: str, pki: DevPki | None, minutes: int) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", scenario, "--endpoint", endpoint, "--minutes", str(minutes)]
    if pki is not None:
        files = pki.client_paths("device-1")
        args += ["--ca", str(pki.ca_file), "--cert", str(files.cert), "--key", str(files.key)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _real(seconds: float, endpoint: str, pki: DevPki) -> dict[str, float]:
    """Run the exporter for ``seconds`` of wall time against a real, failing upstream."""
    files = pki.client_paths("device-1")
    code = f"""
import resource, sys, trio
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from edge_agent.export.config import ExporterConfig
from edge_agent.tls.config import TlsClientConfig
from tests.export.harness import running_exporter, spans
tls = TlsClientConfig(ca_file={str(pki.ca_file)!r}, cert_file={str(files.cert)!r}, key_file={str(files.key)!r})
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
async def main():
    async with running_exporter(ExporterConfig(endpoint={endpoint!r}, tls=tls)) as h:
        start = cpu()
        with trio.move_on_after({seconds}):
            minute = 0
            while True:
                h.offer([spans(100, start=minute * 100)])
                minute += 1
                await trio.sleep(60)
        s = h.exporter.pool.stats
        print(cpu() - start, s.opened + s.open_failures, h.counters.requests.total(), s.bytes_sent, flush=True)
trio.run(main)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cpu, connects, requests, wire = (float(v) for v in out.stdout.split())
    return {"cpu": cpu, "connects": connects, "requests": requests, "wire_bytes": wire}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-seconds", type=float, default=120)
    parser.add_argument("--minutes", type=int, default=60, help="length of the simulated run")
    parser.add_argument("--child", choices=["reachable", "refused", "blackhole"], help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--ca", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cert", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.scenario = args.child
        _child(args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pki = DevPki.create(root / "pki")
        pki.add_client("device-1")
        port = _closed_port()
        rows = {
            "reachable (baseline: delivering the same data)": _simulated("reachable", "", None, args.minutes),
            "refused, http": _simulated("refused", f"http://127.0.0.1:{port}", None, args.minutes),
            "refused, https": _simulated("refused", f"https://localhost:{port}", pki, args.minutes),
            "blackholed TLS port (handshake timeouts)": _simulated("blackhole", "", pki, args.minutes),
        }
        rotel = Rotel(rotel_binary(), root / "rotel", sink_port=0)  # never started: nginx answers 502
        nginx = Nginx(
            Path("/usr/sbin/nginx"), root / "nginx", rotel.port, pki.ca_file, pki.server_cert, pki.server_key
        )
        nginx.start()
        try:
            started = time.monotonic()
            real = _real(args.real_seconds, f"https://localhost:{nginx.port}", pki)
            wall = time.monotonic() - started
        finally:
            nginx.stop()
    scale = 60 / args.minutes
    print(f"\nsimulated {args.minutes} min (MockClock), scaled to one hour; 100 spans offered per minute\n")
    print("| scenario | agent CPU s/hour | connects/hour | requests/hour | bytes sent/hour |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['cpu'] * scale:.3f} | {r['connects'] * scale:.0f} | {r['requests'] * scale:.0f} "
            f"| {r['wire_bytes'] * scale:,.0f} |"
        )
    hour = 3600 / args.real_seconds
    print(
        f"\nreal time, {args.real_seconds:.0f} s (wall {wall:.0f} s incl. start-up), extrapolated x{hour:.0f}:\n"
    )
    print("| scenario | agent CPU s/hour | connects/hour | requests/hour | bytes sent/hour |")
    print("|---|---|---|---|---|")
    print(
        f"| nginx up, rotel down (502, full mTLS handshakes) | {real['cpu'] * hour:.3f} "
        f"| {real['connects'] * hour:.0f} | {real['requests'] * hour:.0f} | {real['wire_bytes'] * hour:,.0f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
