"""Keys and certificate signing requests made on the device (the agent-initiated CSR flow).

The device makes an EC P-256 key and a PKCS#10 request whose common name is
its OpAMP instance UID (the spec's "Using instance_uid in the CSR": the
server checks the CN against the sender, so an agent can only ask for a
certificate for itself). The key never leaves the device: it waits in
``<state_dir>/fleet/csr-key.pem`` (0600, written atomically) until the
server's certificate for it arrives, across restarts if need be.

Blocking (key generation, file I/O): call from a worker thread.
``cryptography`` is imported here only, when a certificate is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.errors import EdgeAgentError
from edge_agent.runtime.state import ensure_private_dir, write_atomic

PENDING_KEY = "csr-key.pem"


class CertificateError(EdgeAgentError):
    """A certificate or key offered for rotation cannot be used."""


@dataclass(frozen=True)
class PendingRequest:
    key_pem: bytes
    csr_pem: bytes


def _serialization() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization


def make_request(common_name: str) -> PendingRequest:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    s = _serialization()
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    return PendingRequest(bytes(key_pem), bytes(csr.public_bytes(s.Encoding.PEM)))


def pending_request(state_dir: Path, common_name: str) -> PendingRequest:
    """The waiting request (same key after a restart), or a new one stored durably."""
    path = state_dir / "fleet" / PENDING_KEY
    try:
        key_pem = path.read_bytes()
    except FileNotFoundError:
        request = make_request(common_name)
        ensure_private_dir(path.parent)
        write_atomic(path, request.key_pem, mode=0o600)
        return request
    return PendingRequest(key_pem, _csr_for(key_pem, common_name))


def _csr_for(key_pem: bytes, common_name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    s = _serialization()
    key = s.load_pem_private_key(key_pem, password=None)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return bytes(csr.public_bytes(s.Encoding.PEM))


def forget_request(state_dir: Path) -> None:
    (state_dir / "fleet" / PENDING_KEY).unlink(missing_ok=True)


def public_key_der(pem: bytes, *, private: bool) -> bytes:
    """The SubjectPublicKeyInfo of a PEM private key or certificate (to match a cert to its key)."""
    from cryptography import x509

    s = _serialization()
    try:
        if private:
            public = s.load_pem_private_key(pem, password=None).public_key()
        else:
            public = x509.load_pem_x509_certificate(pem).public_key()
    except (ValueError, TypeError) as exc:
        what = "private key" if private else "certificate"
        raise CertificateError(f"the offered {what} is not valid PEM: {exc}") from None
    return bytes(public.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo))


def expires_within(cert_pem: bytes, seconds: float, now: float | None = None) -> bool:
    """Whether the certificate is expired or expires within ``seconds``."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    not_after = cert.not_valid_after_utc.timestamp()
    return not_after - (time.time() if now is None else now) <= seconds


def validity_problem(cert_pem: bytes, now: float | None = None) -> str | None:
    """Why the certificate cannot be used right now (expired, not yet valid), or None."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    when = time.time() if now is None else now
    if when > cert.not_valid_after_utc.timestamp():
        return f"the offered certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if when < cert.not_valid_before_utc.timestamp():
        return f"the offered certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None
