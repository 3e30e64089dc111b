"""edge-agent install-service under --root: files, modes, the service user, credentials,
dry runs and idempotency, checked on the real files (and the unit by systemd-analyze)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.cli import main
from tests import peers

EXEC = str(Path(sys.executable).parent / "edge-agent")


def _install(root: Path, *extra: str) -> int:
    return main(["install-service", "--root", str(root), "--exec", EXEC, "--systemd-version", "252", *extra])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run prints every step and leaves the root untouched."""
    assert _install(tmp_path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would create {tmp_path}/etc/edge-agent/ (mode 755)" in out
    assert f"would write  {tmp_path}/etc/systemd/system/edge-agent.service" in out
    assert "would run" in out
    assert "Dry run: nothing was changed." in out
    assert list(tmp_path.iterdir()) == []


def test_install_writes_unit_config_dirs_and_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh install creates the directories, starter config, sysusers entry, user and unit."""
    peers.require("systemd-sysusers")
    assert _install(tmp_path, "--profile", "raspberry-pi-4") == 0
    out = capsys.readouterr().out
    etc = tmp_path / "etc"
    assert _mode(etc / "edge-agent") == 0o755
    assert _mode(etc / "edge-agent" / "credentials") == 0o700
    assert (etc / "edge-agent" / "conf.d").is_dir()
    assert 'profile = "raspberry-pi-4"' in (etc / "edge-agent" / "agent.toml").read_text()
    unit = (etc / "systemd" / "system" / "edge-agent.service").read_text()
    assert _mode(etc / "systemd" / "system" / "edge-agent.service") == 0o644
    assert f"ExecStart={EXEC} run" in unit
    assert f"MemoryMax={256 << 20}" in unit  # the profile's budget
    assert "CPUQuota=100%" in unit
    passwd = (etc / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == ["edge-agent"]
    assert passwd[0].endswith(":/var/lib/edge-agent:/usr/sbin/nologin")
    assert "systemctl daemon-reload && systemctl enable --now edge-agent" in out


def test_second_run_is_a_no_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Running it again changes no file and creates no second user."""
    peers.require("systemd-sysusers")
    _install(tmp_path)
    before = _tree(tmp_path)
    capsys.readouterr()
    assert _install(tmp_path) == 0
    out = capsys.readouterr().out
    assert _tree(tmp_path) == before
    assert "wrote" not in out
    assert "updated" not in out
    assert "exists       user edge-agent" in out


def test_operator_config_is_kept_and_drives_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing agent.toml is never overwritten; its [service] budget updates the unit."""
    peers.require("systemd-sysusers")
    _install(tmp_path)
    config = tmp_path / "etc/edge-agent/agent.toml"
    config.write_text('[service]\nmemory_max = "64MiB"\ncpu_quota = 25\n\n[agent]\nshutdown_grace = "40s"\n')
    capsys.readouterr()
    _install(tmp_path, "--set", "service.nice=5")
    out = capsys.readouterr().out
    assert f"kept         {config} (yours; not overwritten)" in out
    assert f"updated      {tmp_path}/etc/systemd/system/edge-agent.service" in out
    assert config.read_text().startswith("[service]")
    unit = (tmp_path / "etc/systemd/system/edge-agent.service").read_text()
    assert f"MemoryMax={64 << 20}" in unit
    assert "CPUQuota=25%" in unit
    assert "Nice=5" in unit
    assert "TimeoutStopSec=60s" in unit  # 40 s grace + 20 s


def test_credentials_in_the_store_are_loaded_and_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files in /etc/edge-agent/credentials/ become LoadCredential= lines; config references to
    them validate, references to anything else fail at install time, naming the key."""
    peers.require("systemd-sysusers")
    _install(tmp_path)
    store = tmp_path / "etc/edge-agent/credentials"
    (store / "client.key").write_text("secret")
    os.chmod(store / "client.key", 0o600)
    config = tmp_path / "etc/edge-agent/agent.toml"
    config.write_text('[exporter.headers]\nx-key-file = "credential:client.key"\n')
    assert _install(tmp_path, "--credential", "token=/srv/token") == 0
    unit = (tmp_path / "etc/systemd/system/edge-agent.service").read_text()
    assert "LoadCredential=client.key:/etc/edge-agent/credentials/client.key\n" in unit
    assert "LoadCredential=token:/srv/token\n" in unit
    config.write_text('[exporter.headers]\nx-key-file = "credential:other.key"\n')
    capsys.readouterr()
    assert _install(tmp_path) == 1
    err = capsys.readouterr().err
    assert "exporter.headers.x-key-file: credential 'other.key' not found in $CREDENTIALS_DIRECTORY" in err


@pytest.mark.parametrize("bad", ["token", "token=relative/path", "a/b=/x", "=/x"])
def test_malformed_credential_option(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    """--credential needs NAME=/absolute/path."""
    assert _install(tmp_path, "--dry-run", "--credential", bad) == 1
    assert "--credential expects NAME=/absolute/path" in capsys.readouterr().err


def test_executable_hidden_by_the_sandbox_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ExecStart under /home, /root or /tmp cannot run with ProtectHome=/PrivateTmp=: say so."""
    fake = tmp_path / "edge-agent"
    fake.write_text("#!/bin/sh\n")
    main(["install-service", "--root", str(tmp_path / "root"), "--exec", str(fake), "--dry-run"])
    out = capsys.readouterr().out
    assert "is hidden from the service by ProtectHome=/PrivateTmp=" in out
    assert "is not an executable file" in out


def test_installed_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit install-service wrote (for the local systemd) is accepted by systemd-analyze verify."""
    analyze = peers.require("systemd-analyze")
    peers.require("systemd-sysusers")
    assert main(["install-service", "--root", str(tmp_path), "--exec", EXEC]) == 0
    unit = tmp_path / "etc/systemd/system/edge-agent.service"
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")


def test_plugin_needs_widen_the_unit_and_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A StatsD listener on port 125 and the journald plugin get exactly CAP_NET_BIND_SERVICE and
    group systemd-journal; the reasons are printed; systemd-analyze still accepts the unit."""
    peers.require("systemd-sysusers")
    analyze = peers.require("systemd-analyze")
    _install(tmp_path)
    (tmp_path / "etc/edge-agent/agent.toml").write_text(
        '[plugins.statsd]\nendpoint = "0.0.0.0:125"\ninsecure_listen_on_network = true\n\n[plugins.journald]\n'
    )
    capsys.readouterr()
    assert main(["install-service", "--root", str(tmp_path), "--exec", EXEC]) == 0
    out = capsys.readouterr().out
    assert (
        "note: plugins.statsd listens on port 125 (below 1024): the unit grants CAP_NET_BIND_SERVICE" in out
    )
    assert (
        "note: plugins.journald reads the system journal: the service user joins group systemd-journal" in out
    )
    unit_path = tmp_path / "etc/systemd/system/edge-agent.service"
    unit = unit_path.read_text()
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" in unit
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE\n" in unit
    assert "SupplementaryGroups=systemd-journal\n" in unit
    result = subprocess.run([analyze, "verify", str(unit_path)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")
