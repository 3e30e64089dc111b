"""A real ``edge-agent run`` under abuse: tokens, limits, redaction, secrets and file modes.

The agent runs as a subprocess (umask 0, debug logging) with a token-protected
OTLP receiver and admin endpoint, a second receiver with a literal token in
the config, and redact + resource processors. The test attacks both HTTP
surfaces (missing/wrong token, oversized headers, slowloris, too many
connections), then has a real OpenTelemetry SDK app send logs full of
personal data, and checks at a counting OTLP sink that every record arrived,
redacted and enriched. Finally it greps everything the agent showed or wrote
(log output, /status, /metrics, ``check-config``, ``status``, its state
files) for the tokens.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from edge_agent import Signal
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder
from edge_agent.testing import OtlpSink
from tests.e2e.plugin_peers import free_port, tail, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OTLP_TOKEN = "otlp-tok-6d1c9a0e7f3b"
ADMIN_TOKEN = "admin-tok-2e8b5c4d9a71"
LITERAL_TOKEN = "literal-tok-a4f0c3e19b52"
HEADER_TOKEN = "header-tok-77c2e05a9d13"
HEADER_FILE_TOKEN = "header-file-tok-3b90f1d6c2e8"
TOKENS = (OTLP_TOKEN, ADMIN_TOKEN, LITERAL_TOKEN, HEADER_TOKEN, HEADER_FILE_TOKEN)
SDK_APP = Path(__file__).with_name("sdk_pii_app.py")
LOGS = 40


def _token_file(path: Path, token: str, mode: int = 0o600) -> Path:
    path.write_text(token + "\n")
    path.chmod(mode)
    return path


def _config(tmp_path: Path, upstream: str, ports: dict[str, int], admin_token: Path) -> Path:
    otlp_token = _token_file(tmp_path / "otlp.token", OTLP_TOKEN)
    header_token = _token_file(tmp_path / "header.token", HEADER_FILE_TOKEN)
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
state_dir = "{tmp_path / "state"}"
shutdown_grace = "2s"

[exporter]
endpoint = "{upstream}"
headers = {{ "x-api-key" = "{HEADER_TOKEN}" }}
headers_from_file = {{ "x-device-token" = "{header_token}" }}

[exporter.retry_on_failure]
initial_interval = "100ms"
max_interval = "1s"

[admin]
endpoint = "127.0.0.1:{ports["admin"]}"
bearer_token_file = "{admin_token}"
header_timeout = "1s"
max_connections = 3
max_header_bytes = "4KiB"

[self_telemetry]
enabled = false

[plugins.hostmetrics]
enabled = false

[plugins.otlp]
endpoint = "127.0.0.1:{ports["otlp"]}"
bearer_token_file = "{otlp_token}"
header_timeout = "1s"
max_connections = 3
max_request_headers = "4KiB"

[plugins.legacy]
type = "otlp"
endpoint = "127.0.0.1:{ports["legacy"]}"
bearer_token = "{LITERAL_TOKEN}"

[processors.scrub]
type = "redact"
plugins = ["otlp", "legacy"]
presets = ["pii", "secrets"]

[processors.site]
type = "resource"
set = {{ "site" = "plant-3" }}
"""
    )
    return path


@asynccontextmanager
async def _agent(config: Path, log: Path) -> AsyncIterator[trio.Process]:
    """``edge-agent run`` with umask 0 (file modes must not depend on it) and debug logging."""
    argv = [sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--log-level", "debug"]
    with log.open("wb") as out:
        proc = await trio.lowlevel.open_process(argv, stdout=out, stderr=out, umask=0)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            with trio.move_on_after(15):
                await proc.wait()
        if proc.poll() is None:
            proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()


async def _http(port: int, raw: bytes) -> bytes:
    """Send raw bytes, read until the server closes (or the first reply, for keep-alive)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    chunks = []
    async with stream:
        await stream.send_all(raw)
        with trio.move_on_after(10):
            while chunk := await stream.receive_some(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" not in raw:
                    break
    return b"".join(chunks)


def _logs_body() -> bytes:
    builder = LogsBuilder(attributes.resource({"service.name": "raw"}), attributes.scope("t"))
    builder.record("raw client mail bob@example.com", time_ns=1)
    return builder.build().payload


def _post(path: str, body: bytes, auth: str | None) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    if auth is not None:
        head += f"Authorization: {auth}\r\n"
    return head.encode() + b"\r\n" + body


def _get(path: str, auth: str | None = None, extra: str = "") -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}"
    if auth is not None:
        head += f"Authorization: {auth}\r\n"
    return head.encode() + b"\r\n"


async def _abuse(port: int, request: bytes, auth_request: bytes, wrong_auth_request: bytes) -> None:
    """Missing/wrong token, oversized headers, slowloris, too many connections: each clearly refused."""
    assert (await _http(port, request)).startswith(b"HTTP/1.1 401")
    assert (await _http(port, wrong_auth_request)).startswith(b"HTTP/1.1 401")
    oversized = auth_request.replace(b"Host: x\r\n", b"Host: x\r\nX-Junk: " + b"j" * 8000 + b"\r\n")
    assert (await _http(port, oversized)).startswith(b"HTTP/1.1 431")
    with trio.fail_after(5):  # header_timeout is 1s
        slow = await _http(port, auth_request[:30])
    assert slow.startswith(b"HTTP/1.1 408")
    held = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(3)]
    # the server must have accepted all three; they are closed at header_timeout (1 s), so the
    # check goes in the middle of that window (0.2 s was too short on a loaded machine)
    await trio.sleep(0.5)
    try:
        assert (await _http(port, auth_request)).startswith(b"HTTP/1.1 503")
    finally:
        for stream in held:
            await stream.aclose()
    await trio.sleep(0.3)


def _bodies(sink: OtlpSink) -> list[str]:
    return [
        r.body.string_value
        for received in sink.requests
        if received.signal is Signal.LOGS
        for rl in received.message.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
    ]


async def test_agent_refuses_abuse_keeps_exporting_and_never_shows_a_token(tmp_path: Path) -> None:
    """Abuse of both surfaces is refused, data still flows redacted, and no token appears anywhere."""
    ports = {"admin": free_port(), "otlp": free_port(), "legacy": free_port()}
    admin_token = _token_file(tmp_path / "admin.token", ADMIN_TOKEN)
    sink = OtlpSink()
    log = tmp_path / "agent.log"
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.serve)
        config = _config(tmp_path, sink.endpoint, ports, admin_token)
        async with _agent(config, log) as agent:
            for port in ports.values():
                await wait_for_port(port, agent, log)
            body = _logs_body()
            await _abuse(
                ports["otlp"],
                _post("/v1/logs", body, None),
                _post("/v1/logs", body, f"Bearer {OTLP_TOKEN}"),
                _post("/v1/logs", body, f"Bearer {ADMIN_TOKEN}"),
            )
            await _abuse(
                ports["admin"],
                _get("/status"),
                _get("/status", f"Bearer {ADMIN_TOKEN}"),
                _get("/status", f"Bearer {OTLP_TOKEN}"),
            )
            assert (await _http(ports["admin"], _get("/healthz"))).startswith(b"HTTP/1.1 200")
            # the agent is unaffected: a real SDK app and a raw client still get their data through
            await _run_sdk_app(tmp_path, ports["otlp"])
            raw = await _http(ports["legacy"], _post("/v1/logs", body, f"Bearer {LITERAL_TOKEN}"))
            assert raw.startswith(b"HTTP/1.1 200"), raw
            with trio.fail_after(30):
                await sink.wait_for(Signal.LOGS, LOGS + 1)
            status = await _http(ports["admin"], _get("/status", f"Bearer {ADMIN_TOKEN}"))
            metrics = await _http(ports["admin"], _get("/metrics", f"Bearer {ADMIN_TOKEN}"))
            cli_status = await _cli("status", config)
            cli_check = await _cli("check-config", config)
        nursery.cancel_scope.cancel()
    output = log.read_text(errors="replace")
    assert agent.returncode == 0, tail(log)
    _check_delivery(sink)
    sent = sink.requests[-1].headers
    assert (sent["x-api-key"], sent["x-device-token"]) == (HEADER_TOKEN, HEADER_FILE_TOKEN)  # used, not shown
    assert status.startswith(b"HTTP/1.1 200") and b'"state": "running"' in status
    assert b'edge_agent_processor_redacted_total{processor="scrub",signal="logs",rule="email"} 41' in metrics
    for reason, count in (
        ("unauthorized", 2),
        ("headers_too_large", 1),
        ("timeout", 1),
        ("too_many_connections", 1),
    ):
        assert f'edge_agent_admin_refused_total{{reason="{reason}"}} {count}'.encode() in metrics, reason
    for event, count in (
        ("unauthorized", 2),
        ("headers_too_large", 1),
        ("timeout", 1),
        ("too_many_connections", 1),
    ):
        assert f'edge_agent_plugin_events_total{{plugin="otlp",event="{event}"}} {count}'.encode() in metrics
    assert "pipeline running" in cli_status
    assert 'bearer_token = "<redacted>"' in cli_check
    shown = {"agent log": output, "/status": status.decode(), "/metrics": metrics.decode()}
    shown |= {"status": cli_status, "check-config": cli_check, **_state_files(tmp_path / "state")}
    for token in TOKENS:
        leaks = [where for where, text in shown.items() if token in text]
        assert not leaks, f"{token} leaked into {leaks}"
    assert "alice0@example.com" not in output
    _check_modes(tmp_path / "state")


async def _run_sdk_app(tmp_path: Path, port: int) -> None:
    app_log = tmp_path / "app.log"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{OTLP_TOKEN}"}
    argv = [sys.executable, str(SDK_APP), f"http://127.0.0.1:{port}", str(LOGS)]
    with app_log.open("wb") as out:
        proc = await trio.lowlevel.open_process(argv, stdout=out, stderr=out, env=env)
    with trio.fail_after(60):
        await proc.wait()
    text = tail(app_log)
    assert proc.returncode == 0 and f"sent logs={LOGS}" in text and "Failed to export" not in text, text


async def _cli(command: str, config: Path) -> str:
    result = await trio.run_process(
        [sys.executable, "-m", "edge_agent", command, "--config", str(config)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    text = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, text
    return text


def _check_delivery(sink: OtlpSink) -> None:
    bodies = _bodies(sink)
    assert len(bodies) == LOGS + 1
    sdk_bodies = sorted(b for b in bodies if b.startswith("user "))
    assert len(sdk_bodies) == LOGS
    assert all(b == "user **** logged in from ****" for b in sdk_bodies), sdk_bodies[:3]
    assert "raw client mail ****" in bodies
    assert all(attrs.get("site") == "plant-3" for attrs in sink.resource_attributes)


def _state_files(state: Path) -> dict[str, str]:
    return {str(path): path.read_bytes().decode("latin-1") for path in state.rglob("*") if path.is_file()}


def _check_modes(state: Path) -> None:
    entries = [state, *state.rglob("*")]
    assert len(entries) > 2
    for path in entries:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, f"{path} is {mode:o}"
        elif path.is_file():
            assert mode == 0o600, f"{path} is {mode:o}"


async def test_world_readable_token_file_stops_the_start(tmp_path: Path) -> None:
    """A world-readable admin token file: exit 1 with one line naming the file and the chmod, nothing listens."""
    ports = {"admin": free_port(), "otlp": free_port(), "legacy": free_port()}
    admin_token = _token_file(tmp_path / "admin.token", ADMIN_TOKEN, mode=0o644)
    config = _config(tmp_path, "http://127.0.0.1:9", ports, admin_token)
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    expected = (
        f"admin.bearer_token_file: secret file {admin_token} is accessible to every user on the device "
        f"(mode -rw-r--r--); a secret must be private to the agent: run 'chmod 600 {admin_token}'"
    )
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and ADMIN_TOKEN not in result.stderr
    with pytest.raises(OSError, match="connect"):
        await trio.open_tcp_stream("127.0.0.1", ports["admin"])
