"""Which binds count as loopback, and the refusal of unauthenticated network listeners."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.security.exposure import check_listener_exposure, is_loopback_host, token_matches


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::ffff:127.0.0.1", True),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("fe80::1%eth0", False),
        ("gateway.local", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_loopback_classification(host: str, loopback: bool) -> None:
    """Only 127/8, ::1 (also v4-mapped) and localhost names are loopback; names could resolve anywhere."""
    assert is_loopback_host(host) is loopback


def test_network_bind_needs_authentication() -> None:
    """A non-loopback bind without authentication is refused with the remedy; with it, allowed."""
    with pytest.raises(
        ValueError, match=r"would listen on every interface.*set x_file, or bind to 127.0.0.1"
    ):
        check_listener_exposure("", authenticated=False, what="the thing", remedy="x_file")
    check_listener_exposure("0.0.0.0", authenticated=True, what="the thing", remedy="x_file")
    check_listener_exposure("127.0.0.1", authenticated=False, what="the thing", remedy="x_file")


def test_token_comparison() -> None:
    """Equal tokens match; a prefix, a longer value or an empty value do not."""
    assert token_matches(b"Bearer abc", b"Bearer abc")
    assert not token_matches(b"Bearer ab", b"Bearer abc")
    assert not token_matches(b"Bearer abcd", b"Bearer abc")
    assert not token_matches(b"", b"Bearer abc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[admin]\nendpoint = "0.0.0.0:8788"\n',
            r"admin: the admin endpoint \(/status, /metrics\) would listen on 0.0.0.0",
        ),
        (
            '[plugins.otlp]\nendpoint = "0.0.0.0:4318"\n',
            "plugins.otlp: the OTLP receiver would listen on 0.0.0.0",
        ),
        ('[plugins.statsd]\nendpoint = "[::]:8125"\n', "insecure_listen_on_network = true"),
    ],
)
def test_config_refuses_unauthenticated_network_listeners(tmp_path: Path, text: str, message: str) -> None:
    """Admin, OTLP and StatsD listeners off loopback without a token (or consent) fail at load time."""
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)


def test_config_accepts_network_listeners_with_a_token(tmp_path: Path) -> None:
    """With a token file configured (or explicit consent for StatsD) a network bind loads."""
    path = tmp_path / "agent.toml"
    path.write_text(
        '[admin]\nendpoint = "0.0.0.0:8788"\nbearer_token_file = "/etc/edge-agent/admin.token"\n'
        '[plugins.otlp]\nendpoint = "0.0.0.0:4318"\nbearer_token_file = "/etc/edge-agent/otlp.token"\n'
        '[plugins.statsd]\nendpoint = "0.0.0.0:8125"\ninsecure_listen_on_network = true\n'
    )
    loaded = load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)
    assert loaded.config.admin.endpoint == "0.0.0.0:8788"
