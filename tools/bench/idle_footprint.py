"""Idle RSS of `edge-agent run` on the default config, and `edge-agent version` start-up time.

Run:  python tools/bench/idle_footprint.py [--settle 20] [--runs 10]

* RSS: the agent runs the embedded default config (hostmetrics every 10 s,
  admin endpoint, self-telemetry) exporting to a local rotel (blackhole);
  RSS is read from /proc after ``--settle`` seconds, next to a bare
  ``python -c 'import time; time.sleep(60)'`` interpreter measured the same way.
* Start-up: wall time of ``edge-agent version`` (median of ``--runs``), next
  to ``python -c pass`` measured in the same run.

Targets (issue 2): RSS <= 35 MiB, `edge-agent version` < 0.3 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import agent_env, proc_rss_bytes, rotel_blackhole

MiB = 1024 * 1024


def _median_wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss_after(argv: list[str], settle: float, env: dict[str, str], cwd: str) -> int:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        if proc.poll() is not None:
            raise SystemExit(f"{argv} exited early with {proc.returncode}")
        return proc_rss_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    agent = shutil.which("edge-agent") or str(Path(sys.executable).parent / "edge-agent")
    with tempfile.TemporaryDirectory() as tmp, rotel_blackhole(tmp) as endpoint:
        env = agent_env(tmp, endpoint)
        bare = _rss_after([sys.executable, "-c", "import time; time.sleep(600)"], 1.0, env, tmp)
        ours = _rss_after([agent, "run"], args.settle, env, tmp)
    py = _median_wall([sys.executable, "-c", "pass"], args.runs)
    version = _median_wall([agent, "version"], args.runs)
    print(f"RSS bare python interpreter : {bare / MiB:6.1f} MiB")
    print(f"RSS edge-agent run (default): {ours / MiB:6.1f} MiB  after {args.settle:g}s  (target <= 35 MiB)")
    print(f"python -c pass              : {py * 1000:6.0f} ms (median of {args.runs})")
    print(f"edge-agent version          : {version * 1000:6.0f} ms (median of {args.runs}, target < 300 ms)")


if __name__ == "__main__":
    main()
