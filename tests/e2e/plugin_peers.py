"""Process helpers for plugin e2e tests: free ports, an ``edge-agent run`` subprocess, rotel, otelcol-contrib.

Every process is started with ``trio.lowlevel.open_process`` and killed with
SIGKILL when the test ends; output goes to files in the test's tmp dir so a
failure can show it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from tests.peers import require


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, proc: trio.Process, log: Path) -> None:
    """Wait (up to 30 s) until ``127.0.0.1:port`` accepts connections; fail with the process log if it died."""
    with trio.move_on_after(30):
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"process exited with {proc.returncode}:\n{tail(log)}")
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return
    raise AssertionError(f"port {port} did not open within 30s:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@asynccontextmanager
async def process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[trio.Process]:
    """Run ``argv`` with stdout+stderr to ``log``; SIGKILL it on exit."""
    with log.open("wb") as out:
        proc = await trio.lowlevel.open_process(
            argv, stdout=out, stderr=out, env={**os.environ, **(env or {})}, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        with trio.CancelScope(shield=True):
            await proc.wait()


def agent_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "edge_agent", "run", "--config", str(config)]


def agent_config(tmp_path: Path, upstream: str, plugins: str, *, extra: str = "") -> Path:
    """A config with only the given plugin tables (hostmetrics and self-telemetry off)."""
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
state_dir = "{tmp_path / "state"}"
shutdown_grace = "5s"

[admin]
enabled = false

[self_telemetry]
enabled = false

[exporter]
endpoint = "{upstream}"

[exporter.retry_on_failure]
initial_interval = "100ms"
max_interval = "1s"

[plugins.hostmetrics]
enabled = false
{extra}
{plugins}
"""
    )
    return path


@asynccontextmanager
async def rotel(tmp_path: Path, forward_to: str, *, http_port: int = 0) -> AsyncIterator[int]:
    """rotel listening on ``http_port`` (default: a free port), forwarding everything to
    ``forward_to``; yields the port."""
    binary = require("rotel")
    http_port, grpc_port = http_port or free_port(), free_port()
    argv = [
        str(binary),
        "start",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{grpc_port}",
        "--exporter",
        "otlp",
        "--otlp-exporter-endpoint",
        forward_to,
        "--otlp-exporter-protocol",
        "http",
        "--batch-timeout",
        "100ms",
    ]
    log = tmp_path / f"rotel-{http_port}.log"
    async with process(argv, log) as proc:
        await wait_for_port(http_port, proc, log)
        yield http_port
