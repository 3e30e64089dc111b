"""Helpers that run real peer processes (rotel, the agent itself) for e2e tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from tests.peers import require


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_for_port(port: int, *, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until ``port`` accepts connections; callers bound the wait with ``trio.fail_after``."""
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.05)
            continue
        await stream.aclose()
        return


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@dataclass
class Rotel:
    proc: subprocess.Popen[bytes]
    http_port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@asynccontextmanager
async def run_rotel(
    workdir: Path, *, forward_to: str | None = None, http_port: int | None = None, extra: Sequence[str] = ()
) -> AsyncIterator[Rotel]:
    """Run rotel-agent on loopback; with ``forward_to`` it exports OTLP/HTTP there, else to a blackhole."""
    binary = require("rotel")
    http_port = http_port or free_port()
    log = workdir / f"rotel-{http_port}.log"
    args = [
        str(binary),
        "start",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{free_port()}",
        "--pid-file",
        str(workdir / f"rotel-{http_port}.pid"),
        "--log-file",
        str(log),
    ]
    if forward_to:
        args += [
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            forward_to,
            "--otlp-exporter-protocol",
            "http",
        ]
    else:
        args += ["--exporter", "blackhole"]
    args += list(extra)
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        with trio.fail_after(15):
            await wait_for_port(http_port, proc=proc)
        yield Rotel(proc, http_port, log)
    finally:
        stop(proc)


@dataclass
class AgentProcess:
    proc: subprocess.Popen[bytes]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@asynccontextmanager
async def run_agent(
    config: Path, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[AgentProcess]:
    """Run ``edge-agent run --config config`` as a real subprocess; SIGTERM it at the end."""
    stderr_path = workdir / "agent.stderr"
    full_env = {**os.environ, **(env or {})}
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=full_env,
            cwd=workdir,
        )
    try:
        yield AgentProcess(proc, stderr_path)
    finally:
        stop(proc)
