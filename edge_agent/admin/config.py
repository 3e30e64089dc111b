"""Configuration of the local admin endpoint (``[admin]``)."""

from __future__ import annotations

from dataclasses import dataclass, field


def parse_host_port(value: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:8788`` for IPv6); raise ``ValueError`` when malformed."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, got {value!r}")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port must be a number in {value!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return host, port


@dataclass(frozen=True)
class AdminConfig:
    """``[admin]``: /healthz, /readyz, /metrics and /status on a local port."""

    enabled: bool = field(default=True, metadata={"help": "serve the admin endpoint"})
    endpoint: str = field(
        default="127.0.0.1:8788",
        metadata={"help": "host:port to listen on (port 0 picks a free port)", "check": parse_host_port},
    )
