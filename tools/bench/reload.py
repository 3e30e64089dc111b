"""Live reload (SIGHUP) cost and memory stability, and the liveness probe's per-call cost.

Run:  python tools/bench/reload.py [--reloads 200] [--instances 10]

* Reload: `edge-agent run` with ``--instances`` hostmetrics instances exports
  to a local rotel (blackhole). The config alternates between two versions
  that differ in half of the instances' intervals, so every reload restarts
  half of them. Latency is SIGHUP -> the "reloaded configuration" log line
  (load in a worker thread + plan + apply), median and p95; the baseline,
  measured in the same run, is loading the same config in-process
  (``load_config``), the part of a reload that is not ours. RSS is read
  after a warm-up of 10 reloads and again after all of them: a reload must
  not leak (re-imported plugins, orphaned runners, state stores).
* Probe: ``StageProbe.expect`` (what each scrape and export step calls)
  against a plain ``dict`` store of the same values.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import cpu_per_call, proc_rss_bytes, rotel_blackhole

MiB = 1024 * 1024


def _config(state: str, endpoint: str, instances: int, variant: int) -> str:
    lines = [
        f'[agent]\nstate_dir = "{state}"\nshutdown_grace = "1s"',
        '[admin]\nendpoint = "127.0.0.1:0"',
        f'[exporter]\nendpoint = "{endpoint}"',
        "[plugins.hostmetrics]\nenabled = false",
    ]
    for i in range(instances):
        interval = 10 + (variant if i % 2 else 0)  # odd instances change between variants
        lines.append(
            f'[plugins.h{i}]\ntype = "hostmetrics"\ninterval = "{interval}s"\nscrapers = ["cpu", "memory"]'
        )
    return "\n\n".join(lines) + "\n"


class Agent:
    def __init__(self, config: Path, env: dict[str, str]) -> None:
        agent = str(Path(sys.executable).parent / "edge-agent")
        argv = [agent, "run", "-c", str(config), "--log-format", "json"]
        self.proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr

    def wait_for(self, fragment: str) -> str:
        for line in self.stderr:
            message = json.loads(line)["msg"]
            if fragment in message:
                return str(message)
        raise SystemExit(f"agent exited before logging {fragment!r}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)


def bench_reloads(reloads: int, instances: int) -> None:
    from edge_agent.config.load import load_config
    from edge_agent.runtime.discovery import PluginRegistry

    with tempfile.TemporaryDirectory() as tmp, rotel_blackhole(tmp) as endpoint:
        config = Path(tmp, "agent.toml")
        texts = [_config(tmp, endpoint, instances, v) for v in (0, 5)]
        config.write_text(texts[0])
        agent = Agent(config, dict(os.environ))
        agent.wait_for("running:")
        latencies, rss_warm = [], 0
        for n in range(reloads):
            config.write_text(texts[(n + 1) % 2])
            started = time.perf_counter()
            agent.proc.send_signal(signal.SIGHUP)
            agent.wait_for("reloaded configuration")
            latencies.append(time.perf_counter() - started)
            if n == 9:
                rss_warm = proc_rss_bytes(agent.proc.pid)
        rss_end = proc_rss_bytes(agent.proc.pid)
        agent.stop()
        registry = PluginRegistry.for_config(())
        loads = []
        for _ in range(50):
            started = time.perf_counter()
            load_config(main_path=config, environ={}, plugin_types=lambda dirs: registry)
            loads.append(time.perf_counter() - started)
    median, p95 = statistics.median(latencies), sorted(latencies)[int(len(latencies) * 0.95)]
    base = statistics.median(loads)
    print(f"reloads: {reloads}, {instances} instances, {instances // 2} restarted per reload")
    print(f"  baseline load_config (in-process)  : {base * 1000:7.1f} ms median")
    print(f"  SIGHUP -> reloaded (median)        : {median * 1000:7.1f} ms  ({median / base:.1f}x baseline)")
    print(f"  SIGHUP -> reloaded (p95)           : {p95 * 1000:7.1f} ms  ({p95 / base:.1f}x baseline)")
    print(f"  RSS after 10 reloads               : {rss_warm / MiB:7.1f} MiB")
    print(f"  RSS after {reloads} reloads              : {rss_end / MiB:7.1f} MiB  "
          f"({(rss_end - rss_warm) / MiB:+.1f} MiB, {rss_end / rss_warm:.3f}x)")  # fmt: skip


def bench_probe() -> None:
    from edge_agent.runtime.liveness import Liveness, StageProbe

    liveness = Liveness(120.0)
    probe = StageProbe(liveness, "plugin cpu", time.monotonic)
    store: dict[str, tuple[float, str]] = {}

    def baseline() -> None:
        store["plugin cpu"] = (time.monotonic() + 10.0, "scrape")

    base = cpu_per_call(baseline, 200_000)
    ours = cpu_per_call(lambda: probe.expect(10.0, "scrape"), 200_000)
    check = cpu_per_call(lambda: liveness.check(time.monotonic()), 200_000)
    print("liveness probe (per call, thread CPU):")
    print(f"  baseline dict store                : {base * 1e9:7.0f} ns")
    print(f"  StageProbe.expect                  : {ours * 1e9:7.0f} ns  ({ours / base:.1f}x baseline)")
    print(f"  Liveness.check (1 stage)           : {check * 1e9:7.0f} ns  ({check / base:.1f}x baseline)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=200)
    parser.add_argument("--instances", type=int, default=10)
    args = parser.parse_args()
    bench_reloads(args.reloads, args.instances)
    bench_probe()


if __name__ == "__main__":
    main()
