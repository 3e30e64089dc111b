"""Configuration of the local admin endpoint (``[admin]``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.config.units import ByteSize, Duration
from edge_agent.security.exposure import check_listener_exposure


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


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class AdminConfig:
    """``[admin]``: /healthz, /readyz, /metrics and /status on a local port."""

    enabled: bool = field(default=True, metadata={"help": "serve the admin endpoint"})
    endpoint: str = field(
        default="127.0.0.1:8788",
        metadata={
            "help": "host:port to listen on (port 0 picks a free port); a non-loopback host needs "
            "bearer_token_file",
            "check": parse_host_port,
        },
    )
    bearer_token_file: str = field(
        default="",
        metadata={
            "help": "file (mode 0600) holding a token every request but /healthz must present as "
            "'Authorization: Bearer <token>'",
            "secret_file": True,
        },
    )
    max_connections: int = field(
        default=8,
        metadata={"help": "concurrent connections; more are answered 503", "check": _check_positive},
    )
    max_header_bytes: ByteSize = field(
        default=ByteSize(16 * 1024), metadata={"help": "largest request head; bigger gets 431"}
    )
    header_timeout: Duration = field(
        default=Duration(10.0),
        metadata={"help": "time a client has to send its request head", "check": _check_positive},
    )
    idle_timeout: Duration = field(
        default=Duration(30.0),
        metadata={"help": "keep-alive connections idle longer are closed", "check": _check_positive},
    )
    send_timeout: Duration = field(
        default=Duration(10.0),
        metadata={"help": "time a client has to read its reply", "check": _check_positive},
    )

    def __post_init__(self) -> None:
        if self.enabled:
            host, _ = parse_host_port(self.endpoint)
            check_listener_exposure(
                host,
                authenticated=bool(self.bearer_token_file),
                what="the admin endpoint (/status, /metrics)",
                remedy="admin.bearer_token_file (a file holding a bearer token, mode 0600)",
            )
