"""Ed25519 config signatures: what verifies, and the precise refusal for everything that does not."""

from __future__ import annotations

import base64

import pytest

from edge_agent.fleet.signing import (
    SignatureError,
    generate_keypair,
    public_key_id,
    sign_config,
    verify_config,
)

CONFIG = b'[plugins.base]\ntag = "v1"\n'


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


def test_signed_config_verifies_with_version_and_key_id(keys: tuple[bytes, bytes]) -> None:
    """A signature made by sign_config verifies and vouches for version, time and key."""
    private, public = keys
    sig = sign_config(private, CONFIG, version=42, now=1_764_240_000)
    info = verify_config(public, CONFIG, sig)
    assert (info.version, info.issued_at) == (42, "2025-11-27T10:40:00Z")
    assert info.key_id == public_key_id(public)


def test_default_version_is_signing_time(keys: tuple[bytes, bytes]) -> None:
    """Without --version the signed version is the Unix time, so later signatures win."""
    private, public = keys
    assert (
        verify_config(public, CONFIG, sign_config(private, CONFIG, now=1_800_000_000.7)).version
        == 1_800_000_000
    )


def _edit(sig: bytes, old: str, new: str) -> bytes:
    assert old.encode() in sig
    return sig.replace(old.encode(), new.encode())


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda sig, cfg: (sig, cfg + b"#"), "different agent.toml content"),
        (lambda sig, cfg: (_edit(sig, "version = 5", "version = 6"), cfg), "does not verify"),
        (
            lambda sig, cfg: (_edit(sig, 'format = "edge-agent-config-signature/1"', 'format = "x"'), cfg),
            "format 'x'",
        ),
        (lambda sig, cfg: (b"\xff\xfe", cfg), "not a signature document"),
        (
            lambda sig, cfg: (_edit(sig, "version = 5", 'version = "5"'), cfg),
            "version is missing or not a int",
        ),
        (lambda sig, cfg: (_edit(sig, 'signature = "', 'signature = "!'), cfg), "signature is not base64"),
    ],
)
def test_broken_signatures_are_refused(keys: tuple[bytes, bytes], mutate: object, error: str) -> None:
    """Tampered config, version, format or encoding: each refused with its own reason."""
    private, public = keys
    sig, cfg = mutate(sign_config(private, CONFIG, version=5), CONFIG)  # type: ignore[operator]
    with pytest.raises(SignatureError, match=error):
        verify_config(public, cfg, sig)


def test_other_key_is_named(keys: tuple[bytes, bytes]) -> None:
    """A config signed by another fleet key names both key ids."""
    other_private, _ = generate_keypair()
    _, public = keys
    with pytest.raises(SignatureError, match=f"this device trusts only key {public_key_id(public)}"):
        verify_config(public, CONFIG, sign_config(other_private, CONFIG, version=1))


def test_forged_signature_with_right_key_id_fails(keys: tuple[bytes, bytes]) -> None:
    """Claiming the trusted key id does not help: the Ed25519 check fails."""
    _, public = keys
    other_private, _ = generate_keypair()
    forged = sign_config(other_private, CONFIG, version=1)
    forged = forged.replace(forged.split(b'key_id = "')[1].split(b'"')[0], public_key_id(public).encode())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_config(public, CONFIG, forged)


def test_public_key_must_be_ed25519() -> None:
    """An RSA/EC public key file is refused with the reason."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(SignatureError, match="must be Ed25519"):
        verify_config(pem, CONFIG, b"")
    with pytest.raises(SignatureError, match="not a PEM public key"):
        verify_config(b"nonsense", CONFIG, base64.b64encode(b"x"))
