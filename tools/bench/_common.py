"""Small helpers shared by the benchmarks: CPU time of a process, peak RSS, medians."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tools.mtlspeers import Rotel

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _proc_status_bytes(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def proc_rss_bytes(pid: int) -> int:
    return _proc_status_bytes(pid, "VmRSS:")


def proc_peak_rss_bytes(pid: int) -> int:
    return _proc_status_bytes(pid, "VmHWM:")


def agent_env(state_dir: str, endpoint: str, **overrides: str) -> dict[str, str]:
    """Environment for an `edge-agent run` benchmark process: private state, quick stop, given upstream."""
    env = {
        **os.environ,
        "EDGE_AGENT__AGENT__STATE_DIR": state_dir,
        "EDGE_AGENT__AGENT__SHUTDOWN_GRACE": "1s",
        "EDGE_AGENT__ADMIN__ENDPOINT": "127.0.0.1:0",
        "EDGE_AGENT__EXPORTER__ENDPOINT": endpoint,
    }
    env.update({f"EDGE_AGENT__{k.upper()}": v for k, v in overrides.items()})
    return env


def cpu_per_call(fn: Callable[[], object], repeats: int) -> float:
    """Thread CPU seconds per call of ``fn`` over ``repeats`` calls."""

    start = time.thread_time()
    for _ in range(repeats):
        fn()
    return (time.thread_time() - start) / repeats


def median(values: list[float]) -> float:
    return statistics.median(values)


def rotel_binary() -> Path:
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("rotel is not installed: pip install rotel (it is in the test extra)")
    return Path(next(iter(spec.submodule_search_locations)), "rotel-agent")


@contextlib.contextmanager
def rotel_blackhole(workdir: str) -> Iterator[str]:
    """A rotel collector on loopback that decodes and drops; yields its OTLP/HTTP endpoint."""
    collector = Rotel(rotel_binary(), Path(workdir) / "rotel", sink_port=0)
    collector.start()
    try:
        yield f"http://127.0.0.1:{collector.port}"
    finally:
        collector.stop()
