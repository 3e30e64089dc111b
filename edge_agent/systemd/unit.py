"""Render the systemd unit from the packaged template (pure: values in, text out).

The template (``edge-agent.service`` next to this module) holds
``@NAME@`` placeholders; ``@`` never appears in unit syntax the template
uses, unlike ``$``, which systemd expands itself. A line that holds only a
placeholder whose value is empty disappears, so optional settings
(``WatchdogSec=0``, no memory limit) leave no trace.

The target systemd's version picks two features: ``Type=notify-reload``
(253+: ``systemctl reload`` sends SIGHUP and waits for the agent's
``RELOADING=1`` ... ``READY=1``) instead of ``ExecReload=kill -HUP``; and
``RestartSteps=``/``RestartMaxDelaySec=`` (254+: exponential restart
backoff) on top of the fixed ``RestartSec=``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from edge_agent.config.units import format_duration
from edge_agent.systemd.config import ServiceConfig

TEMPLATE = "edge-agent.service"
UNIT_NAME = "edge-agent.service"
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
NOTIFY_RELOAD_SINCE = 253
RESTART_STEPS_SINCE = 254


@dataclass(frozen=True)
class UnitParams:
    exec_path: str  # absolute path of the edge-agent executable
    service: ServiceConfig
    shutdown_grace: float
    version: str
    profile: str = ""
    user: str = "edge-agent"
    group: str = "edge-agent"
    credentials: tuple[tuple[str, str], ...] = ()  # (name, absolute source path)
    systemd_version: int = 252
    capabilities: tuple[str, ...] = ()  # e.g. CAP_NET_BIND_SERVICE; empty = none at all
    groups: tuple[str, ...] = ()  # supplementary groups (systemd-journal, adm)

    def __post_init__(self) -> None:
        if not self.exec_path.startswith("/"):
            raise ValueError(f"ExecStart needs an absolute path, got {self.exec_path!r}")
        texts = (self.exec_path, self.user, self.group, *self.capabilities, *self.groups)
        for text in (*texts, *(p for c in self.credentials for p in c)):
            if any(ch.isspace() for ch in text) or "@" in text:
                raise ValueError(f"{text!r} must not contain whitespace or '@'")


def template_text() -> str:
    return resources.files("edge_agent.systemd").joinpath(TEMPLATE).read_text("utf-8")


def render_unit(params: UnitParams) -> str:
    values = unit_values(params)
    lines = []
    for line in template_text().splitlines():
        sole = _PLACEHOLDER.fullmatch(line.strip())
        if sole and not values[sole.group(1)]:
            continue
        lines.append(_PLACEHOLDER.sub(lambda m: values[m.group(1)], line))
    return "\n".join(lines) + "\n"


def unit_values(params: UnitParams) -> dict[str, str]:
    svc, version = params.service, params.systemd_version
    notify_reload = version >= NOTIFY_RELOAD_SINCE
    steps = version >= RESTART_STEPS_SINCE
    return {
        "VERSION": params.version,
        "PROFILE": params.profile or "(none)",
        "TYPE": "Type=notify-reload" if notify_reload else "Type=notify",
        "EXEC_START": params.exec_path,
        "EXEC_RELOAD": "" if notify_reload else "ExecReload=/bin/kill -HUP $MAINPID",
        "WATCHDOG": f"WatchdogSec={_seconds(svc.watchdog)}" if svc.watchdog else "",
        "RESTART_SEC": "5s" if steps else "30s",
        "RESTART_STEPS": "RestartSteps=6" if steps else "",
        "RESTART_MAX_DELAY": "RestartMaxDelaySec=5min" if steps else "",
        "START_LIMIT_INTERVAL": "15min",
        "START_LIMIT_BURST": "20",
        "TIMEOUT_START": "120s",
        "SHUTDOWN_GRACE": format_duration(params.shutdown_grace),
        "TIMEOUT_STOP": _seconds(params.shutdown_grace + 20),
        "USER": params.user,
        "GROUP": params.group,
        "CREDENTIALS": _credential_lines(params.credentials),
        "MEMORY_HIGH": f"MemoryHigh={svc.memory_max * 85 // 100}" if svc.memory_max else "",
        "MEMORY_MAX": f"MemoryMax={svc.memory_max}" if svc.memory_max else "",
        "CPU_QUOTA": f"CPUQuota={svc.cpu_quota}%" if svc.cpu_quota else "",
        "NICE": str(svc.nice),
        "CAPABILITIES": " ".join(params.capabilities),
        "SUPPLEMENTARY_GROUPS": f"SupplementaryGroups={' '.join(params.groups)}" if params.groups else "",
    }


def _credential_lines(credentials: tuple[tuple[str, str], ...]) -> str:
    if not credentials:
        return "#LoadCredential=client.key:/etc/edge-agent/credentials/client.key"
    return "\n".join(f"LoadCredential={name}:{path}" for name, path in credentials)


def _seconds(value: float) -> str:
    return f"{value:g}s"
