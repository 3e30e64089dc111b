"""TLS client settings (``[exporter.tls]``; reusable for any client section).

Names follow the OpenTelemetry Collector's ``configtls`` where one exists.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

from edge_agent.config.units import Duration


def parse_spki_pin(text: str) -> bytes:
    """A SHA-256 SPKI pin as 32 bytes; accepts base64 (``sha256//`` prefix optional) or hex."""
    value = text.strip()
    for prefix in ("sha256//", "sha256/", "sha256:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
    digest: bytes | None = None
    if len(value) == 64:
        try:
            digest = bytes.fromhex(value)
        except ValueError:
            digest = None
    if digest is None:
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            digest = None
    if digest is None or len(digest) != 32:
        raise ValueError(
            f"invalid SPKI pin {text!r}: expected the SHA-256 of the server's public key as base64 "
            "(44 characters, optionally prefixed sha256//) or hex (64 characters); "
            "tools/pki.py pin CERT prints it"
        )
    return digest


def _check_pins(pins: tuple[str, ...]) -> None:
    for pin in pins:
        parse_spki_pin(pin)


@dataclass(frozen=True)
class TlsClientConfig:
    """``[exporter.tls]``: certificates and verification for https:// endpoints."""

    ca_file: str = field(
        default="",
        metadata={"help": "PEM bundle of CAs that sign the server certificate; empty = system CAs"},
    )
    cert_file: str = field(
        default="", metadata={"help": "client certificate (PEM, leaf first) for mutual TLS"}
    )
    key_file: str = field(
        default="",
        metadata={
            "help": "private key of cert_file (PEM, unencrypted, mode 0600 or a systemd credential)",
            "secret_file": True,
        },
    )
    include_system_ca_certs_pool: bool = field(
        default=False, metadata={"help": "trust the system CAs in addition to ca_file"}
    )
    server_name_override: str = field(
        default="", metadata={"help": "name to send as SNI and verify the server certificate against"}
    )
    min_version: Literal["1.2", "1.3"] = field(
        default="1.2", metadata={"help": "lowest TLS version accepted (1.3 is always preferred)"}
    )
    insecure_skip_verify: bool = field(
        default=False,
        metadata={"help": "DANGEROUS: do not verify the server certificate or name (testing only)"},
    )
    reload_interval: Duration = field(
        default=Duration(60.0),
        metadata={"help": "how often cert/key/CA files are checked for changes; 0 = never"},
    )
    cert_expiry_warning: Duration = field(
        default=Duration(14 * 86400.0),
        metadata={"help": "warn (log, /status, health) when the client certificate expires sooner"},
    )
    pinned_spki_sha256: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "accept only servers whose public key has one of these SHA-256 SPKI hashes "
            "(base64 or hex), in addition to normal verification",
            "check": _check_pins,
        },
    )

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            missing = "key_file" if self.cert_file else "cert_file"
            raise ValueError(f"tls.cert_file and tls.key_file go together; tls.{missing} is missing")

    def is_configured(self) -> bool:
        """Whether any TLS-only setting is present (an error with an http:// endpoint)."""
        return bool(self.ca_file or self.cert_file or self.server_name_override or self.pinned_spki_sha256)

    def pins(self) -> frozenset[bytes]:
        return frozenset(parse_spki_pin(p) for p in self.pinned_spki_sha256)
