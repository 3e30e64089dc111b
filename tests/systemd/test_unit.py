"""The generated unit: budgets from the profile, version-dependent features, and systemd's own
verdict (systemd-analyze verify and the offline security analysis)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config.load import load_config
from edge_agent.config.units import ByteSize, Duration
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.systemd.config import ServiceConfig
from edge_agent.systemd.install import detect_systemd_version
from edge_agent.systemd.unit import UnitParams, render_unit, template_text
from tests import peers

EXEC = str(Path(sys.executable).parent / "edge-agent")  # a real executable: verify checks it


def _params(**changes: object) -> UnitParams:
    values: dict[str, object] = {
        "exec_path": EXEC,
        "service": ServiceConfig(),
        "shutdown_grace": 10.0,
        "version": "1.2.3",
    }
    values.update(changes)
    return UnitParams(**values)  # type: ignore[arg-type]


def _settings(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_defaults_render_a_notify_service_with_watchdog_and_budget() -> None:
    """Type=notify with ExecReload on systemd 252, watchdog, restart policy, budget, hardening."""
    unit = render_unit(_params())
    s = _settings(unit)
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["ExecStart"] == [f"{EXEC} run"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["WatchdogSec"] == ["60s"]
    assert s["Restart"] == ["on-failure"]
    assert (s["RestartSec"], s["StartLimitIntervalSec"], s["StartLimitBurst"]) == (["30s"], ["15min"], ["20"])
    assert s["TimeoutStopSec"] == ["30s"]  # shutdown_grace + 20 s
    assert s["MemoryMax"] == [str(192 << 20)]
    assert s["MemoryHigh"] == [str((192 << 20) * 85 // 100)]
    assert s["CPUQuota"] == ["50%"]
    assert (s["Nice"], s["IOSchedulingClass"]) == (["10"], ["idle"])
    assert s["User"] == s["Group"] == ["edge-agent"]
    assert s["StateDirectory"] == s["ConfigurationDirectory"] == s["LogsDirectory"] == ["edge-agent"]
    assert s["CapabilityBoundingSet"] == [""]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert s["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables", "ProtectKernelModules",
                "ProtectKernelLogs", "ProtectControlGroups"):  # fmt: skip
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    assert "RestartSteps" not in s
    assert "#LoadCredential=client.key:/etc/edge-agent/credentials/client.key" in unit
    assert "@" not in unit.replace("@system-service", "").replace("@privileged @resources", "")


def test_newer_systemd_gets_notify_reload_and_restart_backoff() -> None:
    """253+: Type=notify-reload (no ExecReload); 254+: exponential restart delays."""
    s = _settings(render_unit(_params(systemd_version=253)))
    assert s["Type"] == ["notify-reload"]
    assert "ExecReload" not in s
    assert "RestartSteps" not in s
    s = _settings(render_unit(_params(systemd_version=257)))
    assert (s["RestartSec"], s["RestartSteps"], s["RestartMaxDelaySec"]) == (["5s"], ["6"], ["5min"])


def test_unlimited_budget_and_no_watchdog_leave_no_lines() -> None:
    """0 means "no limit": the settings disappear instead of being written as 0."""
    service = ServiceConfig(memory_max=ByteSize(0), cpu_quota=0, watchdog=Duration(0), nice=-5)
    s = _settings(render_unit(_params(service=service)))
    for key in ("MemoryMax", "MemoryHigh", "CPUQuota", "WatchdogSec"):
        assert key not in s
    assert s["Nice"] == ["-5"]


def test_credentials_become_load_credential_lines() -> None:
    """Each credential is loaded by name from its root-only source file."""
    creds = (("client.key", "/etc/edge-agent/credentials/client.key"), ("token", "/srv/keys/token"))
    s = _settings(render_unit(_params(credentials=creds)))
    assert s["LoadCredential"] == [
        "client.key:/etc/edge-agent/credentials/client.key",
        "token:/srv/keys/token",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"exec_path": "edge-agent"}, "absolute path"), ({"user": "edge agent"}, "whitespace"),
     ({"credentials": (("k", "/a b"),)}, "whitespace"), ({"exec_path": "/opt/@x"}, "'@'")],
)  # fmt: skip
def test_values_that_would_corrupt_the_unit_are_refused(change: dict[str, object], message: str) -> None:
    """Relative ExecStart paths and values with spaces or '@' cannot be written into the unit."""
    with pytest.raises(ValueError, match=message):
        _params(**change)


def test_profile_budget_reaches_the_unit() -> None:
    """The raspberry-pi-4 profile's [service] budget is what the unit enforces."""
    loaded = load_config(main_path=None, environ={}, cli_sets=["profile=raspberry-pi-4"],
                         plugin_types=PluginRegistry.for_config)  # fmt: skip
    s = _settings(render_unit(_params(service=loaded.config.service, profile="raspberry-pi-4")))
    assert s["MemoryMax"] == [str(256 << 20)]
    assert s["CPUQuota"] == ["100%"]


def test_template_placeholders_are_all_known() -> None:
    """Every @NAME@ in the packaged template has a value (a typo would ship literally)."""
    import re

    from edge_agent.systemd.unit import unit_values

    names = set(re.findall(r"@([A-Z_]+)@", template_text()))
    assert names == set(unit_values(_params()))


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """systemd-analyze verify reports nothing (no unknown keys, bad values or missing binaries) for
    the unit rendered for the local systemd version, as install-service renders it."""
    analyze = peers.require("systemd-analyze")
    creds = (("client.key", "/etc/edge-agent/credentials/client.key"),)
    unit = tmp_path / "edge-agent.service"
    unit.write_text(render_unit(_params(systemd_version=detect_systemd_version(), credentials=creds)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The verify check above can fail: a missing ExecStart binary is reported."""
    analyze = peers.require("systemd-analyze")
    unit = tmp_path / "edge-agent.service"
    unit.write_text(render_unit(_params(exec_path=str(tmp_path / "missing"))))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "is not executable" in result.stderr


def test_security_exposure_stays_low(tmp_path: Path) -> None:
    """systemd's offline security analysis rates the hardening at 2.5 or better ("OK")."""
    analyze = peers.require("systemd-analyze")
    unit = tmp_path / "edge-agent.service"
    unit.write_text(render_unit(_params()))
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=25", str(unit)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Overall exposure level for edge-agent.service" in result.stdout
