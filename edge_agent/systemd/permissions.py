"""What the configured plugins need from the sandbox (pure: config in, unit settings out).

The unit starts with nothing: no capabilities, no supplementary groups,
``/home`` hidden. ``install-service`` widens it only where an enabled plugin
instance needs it, and says why:

* a listener (``endpoint = "host:port"``) on a port below 1024 needs
  ``CAP_NET_BIND_SERVICE`` (bounding and ambient set);
* the ``journald`` plugin reading the system journal (no ``directory``/``files``)
  needs the ``systemd-journal`` group;
* the ``filelog`` plugin tailing files under ``/var/log`` needs the ``adm``
  group (Debian's group for log readers);
* paths under ``/home`` or ``/root`` are hidden by ``ProtectHome=``, and unix
  sockets can only be created in writable places (``/run/edge-agent``, the
  state directory): those are reported as notes, not widened automatically.

Settings are read by field name (``endpoint``, ``include``, ``directory``,
``files``, ``unix_socket``), so third-party plugins that use the same names
get the same treatment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edge_agent.config.schema import AgentConfig, PluginInstanceConfig

_WRITABLE = ("/run/edge-agent/", "/var/lib/edge-agent/", "/var/log/edge-agent/")
_HIDDEN = ("/home/", "/root/", "/run/user/")


@dataclass(frozen=True)
class Permissions:
    capabilities: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # one sentence each, printed by install-service


def needed_permissions(config: AgentConfig) -> Permissions:
    caps: set[str] = set()
    groups: set[str] = set()
    notes: list[str] = []
    for inst in config.plugins:
        if not inst.enabled:
            continue
        key = f"plugins.{inst.name}"
        port = _port(_setting(inst, "endpoint"))
        if port is not None and 0 < port < 1024:
            caps.add("CAP_NET_BIND_SERVICE")
            notes.append(f"{key} listens on port {port} (below 1024): the unit grants CAP_NET_BIND_SERVICE")
        if inst.type == "journald" and not _setting(inst, "directory") and not _setting(inst, "files"):
            groups.add("systemd-journal")
            notes.append(f"{key} reads the system journal: the service user joins group systemd-journal")
        paths = [*_strings(_setting(inst, "include")), *_strings(_setting(inst, "files"))]
        paths += _strings(_setting(inst, "directory"))
        if inst.type == "filelog" and any(p.startswith("/var/log/") for p in paths):
            groups.add("adm")
            notes.append(f"{key} tails files under /var/log: the service user joins group adm")
        notes += [
            f"{key}: {p} is hidden by ProtectHome=; add ProtectHome=read-only in a drop-in"
            for p in paths
            if p.startswith(_HIDDEN)
        ]
        socket = _setting(inst, "unix_socket")
        if isinstance(socket, str) and socket and not socket.startswith(_WRITABLE):
            notes.append(
                f"{key}: unix socket {socket} is outside the writable directories; "
                "use /run/edge-agent/ (the unit's RuntimeDirectory)"
            )
    return Permissions(tuple(sorted(caps)), tuple(sorted(groups)), tuple(notes))


def _setting(inst: PluginInstanceConfig, name: str) -> Any:
    return getattr(inst.settings, name, None)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Iterable):
        return [v for v in value if isinstance(v, str)]
    return []


def _port(endpoint: Any) -> int | None:
    if not isinstance(endpoint, str) or ":" not in endpoint:
        return None
    text = endpoint.rpartition(":")[2]
    return int(text) if text.isdigit() else None
