"""The edge-agent command line, run as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from edge_agent import __version__
from edge_agent.config.load import load_config
from edge_agent.runtime.discovery import PluginRegistry


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_version() -> None:
    """`edge-agent version` prints the package version."""
    result = cli("version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"edge-agent {__version__}"


def test_check_config_prints_origins_and_round_trips(tmp_path: Path) -> None:
    """check-config annotates each value with its origin, and its output is itself a valid config."""
    config = tmp_path / "agent.toml"
    config.write_text('[exporter]\nendpoint = "https://10.1.2.3:4318"\n')
    result = cli("check-config", "--config", str(config), env={"EDGE_AGENT__EXPORTER__TIMEOUT": "3s"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        line.startswith('endpoint = "https://10.1.2.3:4318"') and line.endswith(f"# {config}:2")
        for line in lines
    )
    assert any(
        line.startswith('timeout = "3s"') and line.endswith("# env EDGE_AGENT__EXPORTER__TIMEOUT")
        for line in lines
    )
    assert any(line.startswith('interval = "10s"') and "embedded default.toml" in line for line in lines)
    again = tmp_path / "effective.toml"
    again.write_text(result.stdout)
    reloaded = load_config(main_path=again, environ={}, plugin_types=PluginRegistry.for_config)
    original = load_config(
        main_path=config,
        environ={"EDGE_AGENT__EXPORTER__TIMEOUT": "3s"},
        plugin_types=PluginRegistry.for_config,
    )
    assert reloaded.config == original.config


def test_check_config_error_is_one_line_exit_1(tmp_path: Path) -> None:
    """A bad config exits 1 with one precise line on stderr and no traceback."""
    config = tmp_path / "agent.toml"
    config.write_text('[exporter]\nendpoint = "ftp://nope"\n')
    result = cli("check-config", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"edge-agent: exporter.endpoint: must start with http:// or https://, got 'ftp://nope' (from {config}:2)"
    )


def test_plugins_lists_kind_version_and_keys(tmp_path: Path) -> None:
    """`plugins` shows each plugin's kind, version and documented config keys."""
    result = cli("plugins")
    assert result.returncode == 0, result.stderr
    assert "hostmetrics  (scraper, version 1.0.0)" in result.stdout
    assert "per_cpu = false" in result.stdout


def test_plugins_reports_broken_plugin_dir_entries(tmp_path: Path) -> None:
    """A plugin module that fails to import is reported, not fatal."""
    (tmp_path / "broken.py").write_text("raise ImportError('missing vendor SDK')\n")
    result = cli("plugins", "--plugin-dir", str(tmp_path))
    assert result.returncode == 1
    assert "broken.py failed to import" in result.stdout
    assert "missing vendor SDK" in result.stdout
    assert "hostmetrics  (scraper" in result.stdout


def test_run_status_and_clean_ctrl_c(tmp_path: Path) -> None:
    """`run` serves /status for `status`, and SIGINT stops it with exit 0 and no traceback."""
    config = tmp_path / "agent.toml"
    config.write_text(
        textwrap.dedent(f"""
        [agent]
        state_dir = "{tmp_path / "state"}"
        shutdown_grace = "1s"
        [admin]
        endpoint = "127.0.0.1:0"
        [exporter]
        endpoint = "http://127.0.0.1:9"
        [plugins.hostmetrics]
        interval = "200ms"
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            status = cli("status", "--config", str(config))
            ran = "runs 0," not in status.stdout.split("hostmetrics", 1)[-1]
            if status.returncode == 0 and ran and "upstream unreachable" in status.stdout:
                break
            time.sleep(0.2)
        assert status is not None
        assert status.returncode == 0, status.stderr
        assert "pipeline running" in status.stdout
        assert "upstream unreachable" in status.stdout
        assert "hostmetrics" in status.stdout
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr
    assert "received SIGINT: stopping" in stderr


def test_status_without_agent_is_clear(tmp_path: Path) -> None:
    """`status` with no agent running says so in one line, exit 1."""
    result = cli("status", "--admin", "127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the agent's admin endpoint at 127.0.0.1:9" in result.stderr


def test_admin_port_in_use_is_one_line(tmp_path: Path) -> None:
    """An admin port already in use stops the agent with a sentence saying what to do."""
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = cli(
            "run", "--set", f"admin.endpoint=127.0.0.1:{port}", "--set", f"agent.state_dir={tmp_path}"
        )
    assert result.returncode == 1
    assert f"admin endpoint cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
