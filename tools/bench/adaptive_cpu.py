"""The agent's CPU share under a CPU-saturated host, with and without adaptive scheduling.

Run:  python tools/bench/adaptive_cpu.py [--warmup 90] [--measure 120] [--interval 100ms]   (~15 min)

The agent (``edge-agent run``, exporting to a local rotel that drops
everything) collects host metrics every ``--interval`` (a deliberately
heavy setting: unthrottled it needs more than the 2 % CPU budget), with
``max_interval = 10s`` so the adaptation has room. A hog of one
busy-looping process per CPU saturates the host. Four runs, each bounded
to ``warmup + measure`` seconds: idle host and CPU hog, each with adaptive
scheduling off (fixed interval: what the workload costs) and on (default
``max_cpu_percent = 2``).

After ``--warmup`` (the CPU meter needs one ``cpu_window`` of history;
this benchmark sets it to 30 s and samples every 5 s) the agent's CPU time
(utime + stime from /proc) is read over ``--measure`` seconds and reported
as a percentage of one core, next to the host's CPU use in the same window
and what ``/status`` says about the mode and the effective interval.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import agent_env, proc_cpu_seconds, rotel_blackhole

from edge_agent.config.units import parse_duration

HOG = "while True: pass"


def _host_busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _status(state_dir: str) -> dict[str, object]:
    address = Path(state_dir, "admin.addr").read_text().strip()
    with urllib.request.urlopen(f"http://{address}/status", timeout=5) as response:
        status: dict[str, object] = json.load(response)
    return status


def run_once(*, hog: bool, adaptive: bool, args: argparse.Namespace, endpoint: str) -> dict[str, object]:
    agent = shutil.which("edge-agent") or str(Path(sys.executable).parent / "edge-agent")
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(os.cpu_count() or 1)] if hog else []
    try:
        with tempfile.TemporaryDirectory() as state:
            env = agent_env(
                state,
                endpoint,
                plugins__hostmetrics__interval=args.interval,
                plugins__hostmetrics__max_interval="10s",
                adaptive__enabled="true" if adaptive else "false",
                adaptive__sample_interval="5s",
                adaptive__cpu_window="30s",
            )
            proc = subprocess.Popen([agent, "run"], env=env, cwd=state, stderr=subprocess.DEVNULL)
            try:
                time.sleep(args.warmup)
                if proc.poll() is not None:
                    raise SystemExit(f"the agent exited early with {proc.returncode}")
                cpu0, (busy0, total0), t0 = proc_cpu_seconds(proc.pid), _host_busy(), time.monotonic()
                time.sleep(args.measure)
                cpu1, (busy1, total1), t1 = proc_cpu_seconds(proc.pid), _host_busy(), time.monotonic()
                status = _status(state)
            finally:
                proc.terminate()
                proc.wait(15)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    adaptive_status = status["adaptive"]
    assert isinstance(adaptive_status, dict)
    plugin = adaptive_status["plugins"].get("hostmetrics", {})
    return {
        "agent_pct": 100.0 * (cpu1 - cpu0) / (t1 - t0),
        "host_pct": 100.0 * (busy1 - busy0) / (total1 - total0),
        "mode": adaptive_status["mode"],
        "interval": plugin.get("interval_s"),
        "why": plugin.get("why", ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=float, default=90.0)
    parser.add_argument("--measure", type=float, default=120.0)
    parser.add_argument("--interval", default="100ms", help="host metrics interval (the base)")
    args = parser.parse_args()
    parse_duration(args.interval)
    runs = [
        ("idle host, adaptive off", False, False),
        ("idle host, adaptive on", False, True),
        ("CPU hog, adaptive off", True, False),
        ("CPU hog, adaptive on", True, True),
    ]
    print(f"{os.cpu_count()} CPUs; hostmetrics base interval {args.interval}; budget max_cpu_percent = 2")
    print(f"{'run':<24} {'agent CPU':>10} {'host CPU':>9} {'mode':>12} {'interval':>9}  why")
    with tempfile.TemporaryDirectory() as tmp, rotel_blackhole(tmp) as endpoint:
        for label, hog, adaptive in runs:
            r = run_once(hog=hog, adaptive=adaptive, args=args, endpoint=endpoint)
            print(
                f"{label:<24} {r['agent_pct']:>9.2f}% {r['host_pct']:>8.0f}% {r['mode']!s:>12} "
                f"{r['interval']!s:>9}  {r['why']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
