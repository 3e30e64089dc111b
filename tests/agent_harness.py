"""Helpers shared by tests that run a whole agent, in process or as a subprocess."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.export.exporter import Connector
from edge_agent.export.http import Endpoint
from edge_agent.httpserver import HttpServer
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink

PLUGIN_DIR = Path(__file__).parent / "plugin_dir"


def memory_connector(sink: OtlpSink, nursery: trio.Nursery) -> Connector:
    """Connect the exporter to ``sink`` over in-memory streams (MockClock-friendly)."""
    server = HttpServer(sink.handle, sink.limits, name="sink")

    async def connect(endpoint: Endpoint) -> trio.abc.Stream:
        client, remote = trio.testing.memory_stream_pair()
        nursery.start_soon(server.serve_stream, remote)
        return client

    return connect


def agent_toml(
    state_dir: Path,
    body: str,
    *,
    endpoint: str = "http://localhost:4318",  # the memory connector ignores the host
    admin: bool = False,
    grace: str = "3s",
) -> str:
    """A config with only the given plugins: no host metrics, no self-telemetry, admin on a free
    port or off."""
    admin_table = 'endpoint = "127.0.0.1:0"' if admin else "enabled = false"
    return f"""
[agent]
state_dir = "{state_dir}"
plugin_dirs = ["{PLUGIN_DIR}"]
shutdown_grace = "{grace}"

[admin]
{admin_table}

[self_telemetry]
enabled = false

[exporter]
endpoint = "{endpoint}"

[plugins.hostmetrics]
enabled = false
{body}
"""


def load_text(path: Path, text: str, plugin_types: Any = PluginRegistry.for_config) -> LoadedConfig:
    path.write_text(text)
    return load_config(main_path=path, environ={}, plugin_types=plugin_types)


def log_records(sink: OtlpSink) -> Iterator[dict[str, Any]]:
    """Attributes of every log record the sink received (needs keep_messages=True)."""
    for received in sink.requests:
        if received.signal is not Signal.LOGS:
            continue
        for rl in received.message.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    attrs = {}
                    for kv in record.attributes:
                        kind = kv.value.WhichOneof("value")
                        attrs[kv.key] = getattr(kv.value, kind) if kind else None
                    yield attrs


def seqs_by_instance(sink: OtlpSink) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for attrs in log_records(sink):
        out.setdefault(str(attrs["instance"]), []).append(int(attrs["seq"]))
    return out


def tags_by_instance(sink: OtlpSink) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for attrs in log_records(sink):
        out.setdefault(str(attrs["instance"]), Counter())[str(attrs["tag"])] += 1
    return out


async def poll_until(predicate: Callable[[], bool], interval: float = 0.05) -> None:
    """Wait (use under fail_after) until ``predicate()`` holds, checking every ``interval``.

    For state that has no event to wait on (counters, liveness verdicts)."""
    while not predicate():
        await trio.sleep(interval)


# -- a real `edge-agent run` subprocess ------------------------------------------


class NotifyListener:
    """A bound AF_UNIX datagram socket standing in for systemd's notification socket."""

    def __init__(self, address: str) -> None:
        self.address = address  # a path, or "@name" for the abstract namespace
        self.sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_DGRAM)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._changed = trio.Event()

    async def bind(self) -> None:
        raw = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        await self.sock.bind(raw)

    async def run(self) -> None:
        """Collect messages until cancelled; the socket is closed on the way out."""
        try:
            while True:
                data = await self.sock.recv(4096)
                fields = dict(line.split("=", 1) for line in data.decode().splitlines())
                self.messages.append((trio.current_time(), fields))
                self._changed.set()
                self._changed = trio.Event()
        finally:
            self.sock.close()

    async def wait_for(self, key: str, value: str | None = None, after: int = 0) -> int:
        """Index of the first message from ``after`` on that has ``key`` (= ``value``)."""
        while True:
            for i in range(after, len(self.messages)):
                fields = self.messages[i][1]
                if key in fields and (value is None or fields[key] == value):
                    return i
            await self._changed.wait()

    def count(self, key: str, start: float = 0.0, end: float = float("inf")) -> int:
        return sum(1 for t, m in self.messages if key in m and start <= t < end)


class AgentProcess:
    """``edge-agent run --log-format json`` with its stderr log collected line by line."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.logs: list[dict[str, Any]] = []
        self._changed = trio.Event()
        self._eof = trio.Event()

    @classmethod
    async def start(cls, nursery: trio.Nursery, config: Path, env: dict[str, str]) -> AgentProcess:
        import os
        import subprocess
        import sys

        full_env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
        full_env.update(env)
        command = [sys.executable, "-m", "edge_agent", "run", "-c", str(config), "--log-format", "json"]
        process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE, env=full_env)
        agent = cls(process)
        nursery.start_soon(agent._pump)
        nursery.start_soon(agent._kill_when_cancelled)
        return agent

    async def _kill_when_cancelled(self) -> None:
        # a test that fails half-way must not leave an agent running
        try:
            await trio.sleep_forever()
        finally:
            if self.process.returncode is None:
                self.process.kill()

    async def _pump(self) -> None:
        import json

        assert self.process.stderr is not None
        pending = b""
        try:
            async for chunk in self.process.stderr:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    try:
                        self.logs.append(json.loads(line))
                    except ValueError:
                        self.logs.append({"level": "raw", "logger": "", "msg": line.decode(errors="replace")})
                self._changed.set()
                self._changed = trio.Event()
        finally:
            self._eof.set()

    def messages(self, level: str | None = None) -> list[str]:
        return [d["msg"] for d in self.logs if level is None or d["level"] == level]

    async def wait_log(self, fragment: str) -> str:
        while True:
            for message in self.messages():
                if fragment in message:
                    return message
            await self._changed.wait()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def wait(self) -> int:
        """Exit code, once the process has exited and its last log line has been read."""
        code = await self.process.wait()
        await self._eof.wait()
        return code

    def accounting(self) -> dict[str, int]:
        import re

        for message in self.messages():
            match = re.match(
                r"record accounting: collected=(\d+) exported=(\d+) dropped=(\d+) queued=(\d+)", message
            )
            if match:
                return dict(
                    zip(("collected", "exported", "dropped", "queued"), map(int, match.groups()), strict=True)
                )
        raise AssertionError(f"no accounting line in {self.messages()}")


async def http_get(address: str, path: str) -> tuple[int, str]:
    """GET from the agent's admin endpoint (``host:port``), in a worker thread."""
    import http.client

    def get() -> tuple[int, str]:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    return await trio.to_thread.run_sync(get)
