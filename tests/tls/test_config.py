"""[exporter.tls] settings: SPKI pin formats and cert/key pairing."""

from __future__ import annotations

import base64
import hashlib

import pytest

from edge_agent.tls.config import TlsClientConfig, parse_spki_pin

DIGEST = hashlib.sha256(b"spki").digest()


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(DIGEST).decode(),
        "sha256//" + base64.b64encode(DIGEST).decode(),
        DIGEST.hex(),
        "sha256:" + DIGEST.hex().upper(),
    ],
)
def test_pin_formats(text: str) -> None:
    """Pins are accepted as base64 (curl/HPKP style, optional sha256// prefix) or hex."""
    assert parse_spki_pin(text) == DIGEST


@pytest.mark.parametrize("text", ["", "abc", base64.b64encode(b"short").decode(), "zz" * 32])
def test_bad_pins_are_refused_with_a_hint(text: str) -> None:
    """A pin that is not a SHA-256 digest is refused, naming the expected forms."""
    with pytest.raises(ValueError, match="SHA-256"):
        parse_spki_pin(text)


def test_cert_without_key_is_refused() -> None:
    """cert_file and key_file go together; the missing one is named."""
    with pytest.raises(ValueError, match=r"tls\.key_file is missing"):
        TlsClientConfig(cert_file="/c.pem")
    with pytest.raises(ValueError, match=r"tls\.cert_file is missing"):
        TlsClientConfig(key_file="/k.pem")
