"""The small DER reader agrees with cryptography on real certificates."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization

from edge_agent.tls import der
from edge_agent.tls.der import DerError, cert_info, parse_der, pem_certificates
from tools import pkilib


def _der(issued: pkilib.Issued) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.DER)


def _expected(issued: pkilib.Issued) -> der.CertInfo:
    return der._cert_info_cryptography(_der(issued))


CA = pkilib.make_ca()
CASES = {
    "ec server with SANs": pkilib.make_server(CA),
    "ec client": pkilib.make_client(CA, "device-ü-1"),
    "rsa client": pkilib.make_client(CA, "rsa-device", key_kind="rsa"),
    "ca": CA,
    "valid past 2050 (GeneralizedTime)": pkilib.make_client(CA, "long", days=365 * 40),
    "expired": pkilib.expired(CA, "old"),
    "long subject": pkilib.make_client(CA, "x" * 60),
}


@pytest.mark.parametrize("issued", CASES.values(), ids=CASES.keys())
def test_reader_matches_cryptography(issued: pkilib.Issued) -> None:
    """Validity, subject CN and SPKI read by the small reader equal cryptography's."""
    assert parse_der(_der(issued)) == _expected(issued)


def test_days_left_and_validity() -> None:
    """days_left counts down to notAfter; an expired certificate is not valid now."""
    info = parse_der(_der(CASES["expired"]))
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    assert -1.1 < info.days_left(now) < -0.9
    assert not info.is_valid_at(now)
    assert parse_der(_der(CASES["ec client"])).is_valid_at(now)


@pytest.mark.parametrize(
    "data", [b"", b"\x30", b"\x02\x01\x00", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x30\x01"]
)
def test_garbage_is_a_der_error(data: bytes) -> None:
    """Truncated or foreign bytes raise DerError, never IndexError or a wrong answer."""
    with pytest.raises(DerError):
        parse_der(data)


def test_cert_info_falls_back_to_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the small reader gives up, cert_info still answers (via cryptography)."""

    def give_up(data: bytes) -> der.CertInfo:
        raise DerError("unsupported")

    monkeypatch.setattr(der, "parse_der", give_up)
    issued = CASES["rsa client"]
    assert cert_info(_der(issued)) == _expected(issued)


def test_pem_certificates_reads_every_block_in_order() -> None:
    """A PEM bundle yields each certificate's DER in file order; junk between blocks is ignored."""
    text = "# bundle\n" + CA.cert_pem.decode() + "junk\n" + CASES["ec client"].cert_pem.decode()
    assert pem_certificates(text) == [_der(CA), _der(CASES["ec client"])]
    assert pem_certificates("no certificates here") == []
    with pytest.raises(DerError, match="END"):
        pem_certificates(CA.cert_pem.decode().split("-----END")[0])
