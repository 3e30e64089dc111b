"""Host-metrics collection cost: edge-agent vs the OpenTelemetry Python SDK.

Run:  python tools/bench/vs_otel_sdk.py [--interval 1] [--duration 120]

Side by side, at the same collection interval, exporting OTLP/HTTP to the
same local rotel (blackhole exporter):

* edge-agent: `edge-agent run` with the embedded default config
  (hostmetrics, plus its own self-telemetry every 60 s), the hostmetrics
  interval overridden to ``--interval``.
* SDK default: opentelemetry-sdk MeterProvider + PeriodicExportingMetricReader
  + OTLPMetricExporter (proto/http) + SystemMetricsInstrumentor() with its
  default config (which includes network connections and process.runtime.*).
* SDK comparable: the same, with SystemMetricsInstrumentor limited to the
  metric families edge-agent's default hostmetrics collects.

All three run at the same time so they see the same machine noise; CPU is
read from /proc/<pid>/stat after a warm-up and at the end, RSS at the end.
Target (issue 2): edge-agent uses <= 1/3 of the SDK's CPU and less RSS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import agent_env, proc_cpu_seconds, proc_rss_bytes, rotel_blackhole

SDK_APP = """
import sys, time
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

endpoint, interval, comparable = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint + "/v1/metrics"),
                                       export_interval_millis=interval * 1000)
provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "sdk-bench"}))
config = None
if comparable:
    config = {
        "system.cpu.time": ["idle", "user", "system", "irq", "softirq", "nice", "iowait", "steal"],
        "system.cpu.utilization": ["idle", "user", "system", "irq", "softirq", "nice", "iowait", "steal"],
        "system.memory.usage": ["used", "free", "cached", "buffered"],
        "system.memory.utilization": ["used"],
        "system.swap.usage": ["used", "free"],
        "system.swap.utilization": ["used"],
        "system.disk.io": ["read", "write"],
        "system.disk.operations": ["read", "write"],
        "system.disk.time": ["read", "write"],
        "system.network.dropped.packets": ["transmit", "receive"],
        "system.network.packets": ["transmit", "receive"],
        "system.network.errors": ["transmit", "receive"],
        "system.network.io": ["transmit", "receive"],
    }
SystemMetricsInstrumentor(config=config).instrument(meter_provider=provider)
while True:
    time.sleep(3600)
"""

MiB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    agent = str(Path(sys.executable).parent / "edge-agent")
    with tempfile.TemporaryDirectory() as tmp, rotel_blackhole(tmp) as endpoint:
        env = agent_env(tmp, endpoint, plugins__hostmetrics__interval=f"{args.interval}s")
        procs = {
            "edge-agent": subprocess.Popen([agent, "run"], env=env, cwd=tmp, stderr=subprocess.DEVNULL),
            "SDK default": subprocess.Popen(
                [sys.executable, "-c", SDK_APP, endpoint, str(args.interval), "0"]
            ),
            "SDK comparable": subprocess.Popen(
                [sys.executable, "-c", SDK_APP, endpoint, str(args.interval), "1"]
            ),
        }
        try:
            time.sleep(args.warmup)
            start = {name: proc_cpu_seconds(p.pid) for name, p in procs.items()}
            time.sleep(args.duration)
            cpu = {name: proc_cpu_seconds(p.pid) - start[name] for name, p in procs.items()}
            rss = {name: proc_rss_bytes(p.pid) for name, p in procs.items()}
            dead = [name for name, p in procs.items() if p.poll() is not None]
        finally:
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                p.wait(10)
    if dead:
        raise SystemExit(f"exited during the run: {dead}")
    hours = args.duration / 3600
    print(f"interval {args.interval:g}s, measured for {args.duration:g}s after {args.warmup:g}s warm-up")
    print(f"{'process':16} {'CPU s/hour':>11} {'CPU ms/cycle':>13} {'RSS MiB':>8}")
    cycles = args.duration / args.interval
    for name in procs:
        print(f"{name:16} {cpu[name] / hours:11.1f} {cpu[name] / cycles * 1000:13.2f} {rss[name] / MiB:8.1f}")
    for sdk in ("SDK default", "SDK comparable"):
        print(f"edge-agent CPU / {sdk}: {cpu['edge-agent'] / cpu[sdk]:.2f}x  (target <= 0.33x)")


if __name__ == "__main__":
    main()
