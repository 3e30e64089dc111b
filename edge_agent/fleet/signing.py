"""Signed configs: Ed25519 signatures over ``agent.toml`` plus a version that forbids replays.

A pushed config is two files in the OpAMP config map: ``agent.toml`` (any
valid edge-agent config) and ``agent.toml.sig``, a small TOML document::

    format = "edge-agent-config-signature/1"
    version = 1764240000                 # larger than every earlier config's
    issued_at = "2026-11-27T10:40:00Z"
    key_id = "3f6c0a1d9b2e4c57"          # first 16 hex digits of SHA-256(raw public key)
    config_sha256 = "9a0b..."            # SHA-256 of agent.toml's bytes
    signature = "base64..."              # Ed25519 over the signed message below

The signature covers the format name, ``version``, ``issued_at`` and
``config_sha256`` (:func:`signed_message`), so neither the config nor its
version can be changed without the fleet key: an old config replayed by
anyone is refused because its signed version is not newer than the running
one (see :mod:`edge_agent.fleet.staging`).

``cryptography`` is imported inside the functions that need it: it costs
~15 MiB of RSS, paid only when a config or certificate actually arrives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys
import time
from dataclasses import dataclass
from typing import Any

from edge_agent.errors import EdgeAgentError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORMAT = "edge-agent-config-signature/1"
CONFIG_NAME = "agent.toml"
SIGNATURE_NAME = "agent.toml.sig"


class SignatureError(EdgeAgentError):
    """A pushed config's signature is missing, malformed, by another key, or does not verify."""


@dataclass(frozen=True)
class SignedInfo:
    """What a valid signature vouches for."""

    version: int
    issued_at: str
    key_id: str
    config_sha256: str


def signed_message(version: int, issued_at: str, config_sha256: str) -> bytes:
    return f"{FORMAT}\nversion={version}\nissued_at={issued_at}\nconfig_sha256={config_sha256}\n".encode()


def key_id(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def _load_public(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SignatureError(f"the fleet public key is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"the fleet public key must be Ed25519, not {type(key).__name__}")
    return key


def _raw(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def public_key_id(public_pem: bytes) -> str:
    return key_id(_raw(_load_public(public_pem)))


def parse_signature(sig: bytes) -> dict[str, Any]:
    try:
        doc = tomllib.loads(sig.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SignatureError(f"{SIGNATURE_NAME} is not a signature document: {exc}") from None
    if doc.get("format") != FORMAT:
        raise SignatureError(f"{SIGNATURE_NAME} has format {doc.get('format')!r}, expected {FORMAT!r}")
    for name, kind in (
        ("version", int),
        ("issued_at", str),
        ("key_id", str),
        ("config_sha256", str),
        ("signature", str),
    ):
        if not isinstance(doc.get(name), kind) or isinstance(doc.get(name), bool):
            raise SignatureError(f"{SIGNATURE_NAME}: {name} is missing or not a {kind.__name__}")
    if doc["version"] < 0:
        raise SignatureError(f"{SIGNATURE_NAME}: version must not be negative")
    return dict(doc)


def verify_config(public_pem: bytes, config: bytes, sig: bytes) -> SignedInfo:
    """Check ``sig`` (the ``agent.toml.sig`` bytes) for ``config``; raise :class:`SignatureError`."""
    from cryptography.exceptions import InvalidSignature

    public_key = _load_public(public_pem)  # a broken key file is the device's problem: say so first
    doc = parse_signature(sig)
    expected_id = key_id(_raw(public_key))
    if doc["key_id"] != expected_id:
        raise SignatureError(
            f"signed by key {doc['key_id']}, but this device trusts only key {expected_id} "
            "(fleet.public_key_file)"
        )
    digest = hashlib.sha256(config).hexdigest()
    if doc["config_sha256"] != digest:
        raise SignatureError("the signature is for different agent.toml content (SHA-256 mismatch)")
    try:
        signature = base64.b64decode(doc["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_NAME}: signature is not base64") from None
    try:
        public_key.verify(signature, signed_message(doc["version"], doc["issued_at"], digest))
    except InvalidSignature:
        raise SignatureError("the signature does not verify with the fleet public key") from None
    return SignedInfo(doc["version"], doc["issued_at"], doc["key_id"], digest)


def sign_config(
    private_pem: bytes, config: bytes, *, version: int | None = None, now: float | None = None
) -> bytes:
    """The ``agent.toml.sig`` document for ``config``; ``version`` defaults to the Unix time of signing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"the signing key must be Ed25519, not {type(key).__name__}")
    when = time.time() if now is None else now
    version = int(when) if version is None else version
    issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    digest = hashlib.sha256(config).hexdigest()
    signature = key.sign(signed_message(version, issued_at, digest))
    lines = [
        "# edge-agent config signature (python tools/fleet_server.py sign)",
        f'format = "{FORMAT}"',
        f"version = {version}",
        f'issued_at = "{issued_at}"',
        f'key_id = "{key_id(_raw(key.public_key()))}"',
        f'config_sha256 = "{digest}"',
        f'signature = "{base64.b64encode(signature).decode()}"',
    ]
    return ("\n".join(lines) + "\n").encode()


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 fleet key: (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public
