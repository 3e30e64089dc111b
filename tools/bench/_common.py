"""Small helpers shared by the benchmarks: CPU time of a process, peak RSS, medians."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
    import time

    start = time.thread_time()
    for _ in range(repeats):
        fn()
    return (time.thread_time() - start) / repeats


def median(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rotel_binary() -> Path:
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("rotel is not installed: pip install rotel (it is in the test extra)")
    return Path(next(iter(spec.submodule_search_locations)), "rotel-agent")


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s")


@contextlib.contextmanager
def rotel(workdir: str, *exporter_args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A rotel collector on loopback; yields its OTLP/HTTP endpoint and process."""
    port = free_port()
    args = [
        str(rotel_binary()),
        "start",
        "--otlp-http-endpoint",
        f"127.0.0.1:{port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{free_port()}",
        "--pid-file",
        f"{workdir}/rotel-{port}.pid",
        "--log-file",
        f"{workdir}/rotel-{port}.log",
        *(exporter_args or ("--exporter", "blackhole")),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def rotel_blackhole(workdir: str) -> Iterator[str]:
    with rotel(workdir) as (endpoint, _):
        yield endpoint
