"""Configuration of the fleet client (``[fleet]``).

Every key here is *local*: a config pushed by the fleet server may not set
any of them (docs/fleet.md, "Layering"), so a compromised or mistaken push
can never move the agent to another server, swap the key that verifies
configs, or change how the agent authenticates. ``[fleet]`` changes take
effect at the next start (a SIGHUP lists them as waiting for a restart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from edge_agent.config.units import Duration
from edge_agent.tls.config import TlsClientConfig


def _check_endpoint(value: str) -> None:
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"must be an http:// or https:// URL such as https://fleet.example:4320/v1/opamp, got {value!r}"
        )


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


def _check_fraction(value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class FleetConfig:
    """``[fleet]``: the OpAMP server this device reports to and takes signed configs from."""

    enabled: bool = field(default=False, metadata={"help": "connect to the fleet server (OpAMP over HTTP)"})
    endpoint: str = field(
        default="",
        metadata={
            "help": "OpAMP server URL, e.g. https://fleet.example:4320/v1/opamp (path defaults to /v1/opamp)",
            "check": _check_endpoint,
        },
    )
    public_key_file: str = field(
        default="",
        metadata={
            "help": "Ed25519 public key (PEM) that signs pushed configs; empty = refuse remote configs",
        },
    )
    poll_interval: Duration = field(
        default=Duration(30.0),
        metadata={
            "help": "how often the agent polls when idle; a server-offered heartbeat interval replaces it",
            "check": _check_positive,
        },
    )
    poll_jitter: float = field(
        default=0.2,
        metadata={
            "help": "each wait is drawn from [1-j, 1+j] x the interval, spreading a fleet",
            "check": _check_fraction,
        },
    )
    timeout: Duration = field(
        default=Duration(15.0), metadata={"help": "deadline of one OpAMP request", "check": _check_positive}
    )
    compression: Literal["gzip", "none"] = field(
        default="gzip", metadata={"help": "request body encoding (small heartbeats are always sent plain)"}
    )
    headers: dict[str, str] = field(
        default_factory=dict, metadata={"help": "extra request headers, e.g. Authorization", "secret": True}
    )
    labels: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": 'reported to the server for group pushes, e.g. site = "plant-3", ring = "canary"'},
    )
    health_window: Duration = field(
        default=Duration(30.0),
        metadata={
            "help": "after applying a pushed config, how long the pipeline must stay healthy before it "
            "becomes the last-known-good config (else it is rolled back)",
            "check": _check_positive,
        },
    )
    remote_denied_plugin_types: tuple[str, ...] = field(
        default=("exec",),
        metadata={"help": "plugin types a pushed config may not use (exec runs commands on the device)"},
    )
    accept_certificates: bool = field(
        default=True,
        metadata={
            "help": "take client certificates the server offers (tested live before they replace the old)"
        },
    )
    request_certificate: bool = field(
        default=False,
        metadata={
            "help": "ask the server for a client certificate (key and CSR made on the device) when there is "
            "none or it expires within renew_before",
        },
    )
    renew_before: Duration = field(
        default=Duration(30 * 86400.0),
        metadata={"help": "with request_certificate: renew this long before the certificate expires"},
    )
    tls: TlsClientConfig = field(
        default_factory=TlsClientConfig,
        metadata={"help": "TLS for https:// endpoints; unset = the exporter's [exporter.tls] files"},
    )

    def __post_init__(self) -> None:
        if self.enabled and not self.endpoint:
            raise ValueError("fleet.enabled = true needs fleet.endpoint (the OpAMP server URL)")
