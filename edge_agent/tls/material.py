"""Loading TLS client material: files → a verified, immutable :class:`TlsMaterial`.

A :class:`TlsMaterial` is one consistent snapshot: an ``ssl.SSLContext``
built from the CA bundle, client certificate and key as they were at load
time, what the agent needs to know about those certificates (expiry,
subject), and the file stamps it was built from (so a watcher can tell when
the files change). It never changes after loading; rotation builds a new one
and swaps it in (see :mod:`edge_agent.tls.store`).

:func:`load_client_material` is blocking (file reads, key parsing): call it
from a worker thread. Every problem is a :class:`ConfigError` naming the key
and the file, in words an operator can act on.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.der import CertInfo, DerError, cert_info, pem_certificates
from edge_agent.tls.files import FileStamp, check_private, read_text, resolve_path, stamps


@dataclass(frozen=True, eq=False)
class TlsMaterial:
    context: ssl.SSLContext
    config: TlsClientConfig
    client_cert: CertInfo | None
    ca_certs: tuple[CertInfo, ...]
    files: tuple[Path, ...]
    stamps: tuple[FileStamp, ...]
    loaded_unix: float = field(default_factory=time.time)

    @property
    def verifies_server(self) -> bool:
        return not self.config.insecure_skip_verify

    def server_name(self, host: str) -> str:
        """The name sent as SNI and checked against the server certificate."""
        return self.config.server_name_override or host

    def pins(self) -> frozenset[bytes]:
        return self.config.pins()

    def describe(self, now: float) -> dict[str, Any]:
        """For ``/status``: files, subjects and expiry, never key material."""
        client = self.client_cert
        return {
            "client_cert": None
            if client is None
            else {
                "subject_cn": client.subject_cn,
                "not_after_unix": client.not_after,
                "days_left": round(client.days_left(now), 2),
            },
            "ca_certs": len(self.ca_certs),
            "ca_earliest_expiry_days": round(min(c.days_left(now) for c in self.ca_certs), 2)
            if self.ca_certs
            else None,
            "files": [str(p) for p in self.files],
            "loaded_unix": self.loaded_unix,
            "verify_server": self.verifies_server,
            "min_version": self.config.min_version,
            "pinned_keys": len(self.config.pinned_spki_sha256),
        }


def _certs(path: Path, *, key: str, what: str) -> list[CertInfo]:
    text = read_text(path, key=key, what=what)
    try:
        ders = pem_certificates(text)
        if not ders:
            raise DerError("it holds no '-----BEGIN CERTIFICATE-----' block")
        return [cert_info(der) for der in ders]
    except (DerError, ValueError) as exc:
        raise ConfigError(f"{what} {path} is not a valid PEM certificate file: {exc}", key=key) from None


def _base_context(config: TlsClientConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if config.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    context.set_alpn_protocols(["http/1.1"])
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _no_password() -> bytes:
    raise ConfigError("the private key is encrypted; the agent needs an unencrypted key file")


def _load_pair(context: ssl.SSLContext, cert: Path, key: Path, *, prefix: str) -> None:
    check_private(key, key=f"{prefix}.key_file")
    key_text = read_text(key, key=f"{prefix}.key_file", what="private key")
    if "ENCRYPTED" in key_text:
        raise ConfigError(
            f"private key {key} is encrypted; decrypt it (openssl pkey -in {key} -out NEW) "
            "and protect it with file permissions instead",
            key=f"{prefix}.key_file",
        )
    try:
        context.load_cert_chain(str(cert), str(key), password=_no_password)
    except ssl.SSLError as exc:
        reason = str(getattr(exc, "reason", "") or exc)
        if "KEY_VALUES_MISMATCH" in reason.upper():
            message = f"certificate {cert} and private key {key} do not belong together"
        else:
            message = f"cannot use certificate {cert} with key {key}: {reason}"
        raise ConfigError(message, key=f"{prefix}.key_file") from None


def load_client_material(
    config: TlsClientConfig, environ: Mapping[str, str], *, prefix: str = "exporter.tls"
) -> TlsMaterial:
    """Build a :class:`TlsMaterial` from ``config``'s files (blocking)."""
    ca = resolve_path(config.ca_file, environ, key=f"{prefix}.ca_file") if config.ca_file else None
    cert = resolve_path(config.cert_file, environ, key=f"{prefix}.cert_file") if config.cert_file else None
    key = resolve_path(config.key_file, environ, key=f"{prefix}.key_file") if config.key_file else None
    files = tuple(p for p in (ca, cert, key) if p is not None)
    before = stamps(files)
    context = _base_context(config)
    ca_certs: list[CertInfo] = []
    if ca is not None:
        ca_certs = _certs(ca, key=f"{prefix}.ca_file", what="CA bundle")
        try:
            context.load_verify_locations(cafile=str(ca))
        except ssl.SSLError as exc:
            raise ConfigError(f"CA bundle {ca} cannot be used: {exc}", key=f"{prefix}.ca_file") from None
    if ca is None or config.include_system_ca_certs_pool:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    client: CertInfo | None = None
    if cert is not None and key is not None:
        client = _certs(cert, key=f"{prefix}.cert_file", what="client certificate")[0]
        _load_pair(context, cert, key, prefix=prefix)
    after = stamps(files)
    if after != before:
        raise ConfigError(
            "the certificate files changed while they were being loaded; they are read again shortly",
            key=prefix,
        )
    return TlsMaterial(context, config, client, tuple(ca_certs), files, after)
