"""The sandbox widens only for what the configured plugins need, and says why."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.load import load_config
from edge_agent.config.schema import AgentConfig
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.systemd.permissions import needed_permissions


def _config(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config).config


def test_default_config_needs_nothing(tmp_path: Path) -> None:
    """Host metrics alone: no capabilities, no groups, no notes."""
    assert needed_permissions(_config(tmp_path, "")) == needed_permissions(AgentConfig())
    permissions = needed_permissions(_config(tmp_path, ""))
    assert (permissions.capabilities, permissions.groups, permissions.notes) == ((), (), ())


def test_privileged_port_needs_net_bind_service(tmp_path: Path) -> None:
    """A StatsD listener on port 125 gets CAP_NET_BIND_SERVICE; one on 8125 does not."""
    low = needed_permissions(
        _config(tmp_path, '[plugins.statsd]\nendpoint = "0.0.0.0:125"\ninsecure_listen_on_network = true\n')
    )
    assert low.capabilities == ("CAP_NET_BIND_SERVICE",)
    assert low.notes == (
        "plugins.statsd listens on port 125 (below 1024): the unit grants CAP_NET_BIND_SERVICE",
    )
    high = needed_permissions(
        _config(tmp_path, '[plugins.statsd]\nendpoint = "0.0.0.0:8125"\ninsecure_listen_on_network = true\n')
    )
    assert high.capabilities == ()


def test_log_readers_join_the_log_groups(tmp_path: Path) -> None:
    """journald on the system journal joins systemd-journal; filelog on /var/log joins adm."""
    text = '[plugins.journald]\n\n[plugins.filelog]\ninclude = ["/var/log/syslog", "/srv/app/*.log"]\n'
    permissions = needed_permissions(_config(tmp_path, text))
    assert permissions.groups == ("adm", "systemd-journal")
    assert permissions.capabilities == ()


def test_disabled_instances_and_journal_files_need_nothing(tmp_path: Path) -> None:
    """Only enabled instances count; journald on its own files needs no group."""
    text = (
        '[plugins.journald]\nfiles = ["/var/lib/edge-agent/app.journal"]\n\n'
        '[plugins.filelog]\nenabled = false\ninclude = ["/var/log/syslog"]\n'
    )
    assert needed_permissions(_config(tmp_path, text)).groups == ()


def test_paths_the_sandbox_hides_are_reported(tmp_path: Path) -> None:
    """Files under /home and sockets outside writable directories become notes, not grants."""
    text = (
        '[plugins.filelog]\ninclude = ["/home/pi/app.log"]\n\n'
        '[plugins.otlp]\nunix_socket = "/var/run/otlp.sock"\n'
    )
    notes = needed_permissions(_config(tmp_path, text)).notes
    assert notes == (
        "plugins.filelog: /home/pi/app.log is hidden by ProtectHome=; add ProtectHome=read-only in a drop-in",
        "plugins.otlp: unix socket /var/run/otlp.sock is outside the writable directories; "
        "use /run/edge-agent/ (the unit's RuntimeDirectory)",
    )
