"""Just enough X.509 DER reading for the running agent: validity, subject CN, SPKI.

Why not ``cryptography``: importing it costs ~15 MiB RSS (DESIGN.md), and the
running agent needs only three fields of a certificate: when it expires
(health), its subject (messages) and its SubjectPublicKeyInfo (SPKI pins).
Those sit at fixed positions in ``tbsCertificate``::

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    tbsCertificate ::= SEQUENCE {
        [0] version OPTIONAL, serialNumber, signature, issuer,
        validity SEQUENCE { notBefore Time, notAfter Time },
        subject, subjectPublicKeyInfo, ... }

A certificate this reader cannot walk falls back to ``cryptography``
(imported lazily, only then), so an unusual encoding costs memory, never a
wrong answer. Tests compare this reader with ``cryptography`` on real certs.
"""

from __future__ import annotations

import calendar
import ssl
from dataclasses import dataclass

_SEQUENCE = 0x30
_SET = 0x31
_OID = 0x06
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_VERSION_TAG = 0xA0
_CN_OID = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
_STRING_TAGS = {0x0C, 0x13, 0x14, 0x16, 0x1E}  # UTF8, Printable, T61, IA5, BMP


class DerError(ValueError):
    """The bytes are not a DER certificate this reader understands."""


@dataclass(frozen=True)
class CertInfo:
    """What the agent needs to know about one certificate."""

    subject_cn: str
    not_before: float  # Unix seconds
    not_after: float
    spki_der: bytes

    def days_left(self, now: float) -> float:
        return (self.not_after - now) / 86400.0

    def is_valid_at(self, now: float) -> bool:
        return self.not_before <= now <= self.not_after


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, content_start, content_end)`` of the element at ``pos``."""
    if pos + 2 > len(data):
        raise DerError("truncated element")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("unsupported length encoding")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise DerError("element runs past the end")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """``(tag, content_start, content_end, element_start)`` of each element in a range."""
    out, pos = [], start
    while pos < end:
        tag, cstart, cend = _read_tlv(data, pos)
        out.append((tag, cstart, cend, pos))
        pos = cend
    return out


def _time(tag: int, raw: bytes) -> float:
    text = raw.decode("ascii")
    if not text.endswith("Z"):
        raise DerError("certificate time without Z")
    if tag == _UTC_TIME:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise DerError("unexpected time type")
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14])
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def _subject_cn(data: bytes, start: int, end: int) -> str:
    for set_tag, sstart, send, _ in _children(data, start, end):
        if set_tag != _SET:
            continue
        for _, astart, aend, _ in _children(data, sstart, send):
            parts = _children(data, astart, aend)
            if len(parts) == 2 and parts[0][0] == _OID and data[parts[0][1] : parts[0][2]] == _CN_OID:
                tag, vstart, vend, _ = parts[1]
                if tag in _STRING_TAGS:
                    codec = "utf-16-be" if tag == 0x1E else "utf-8"
                    return data[vstart:vend].decode(codec, "replace")
    return ""


def parse_der(data: bytes) -> CertInfo:
    """Read ``data`` (one DER certificate) with the small reader; raise :class:`DerError`."""
    try:
        tag, start, _ = _read_tlv(data, 0)
        if tag != _SEQUENCE:
            raise DerError("not a SEQUENCE")
        tbs_tag, tstart, tend = _read_tlv(data, start)
        fields = _children(data, tstart, tend)
        if tbs_tag != _SEQUENCE or not fields:
            raise DerError("no tbsCertificate")
        if fields[0][0] == _VERSION_TAG:
            fields = fields[1:]
        _serial, _sig, _issuer, validity, subject, spki = fields[:6]
        times = _children(data, validity[1], validity[2])
        if validity[0] != _SEQUENCE or len(times) != 2 or spki[0] != _SEQUENCE:
            raise DerError("unexpected tbsCertificate layout")
        return CertInfo(
            subject_cn=_subject_cn(data, subject[1], subject[2]),
            not_before=_time(times[0][0], data[times[0][1] : times[0][2]]),
            not_after=_time(times[1][0], data[times[1][1] : times[1][2]]),
            spki_der=data[spki[3] : spki[2]],
        )
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        if isinstance(exc, DerError):
            raise
        raise DerError(str(exc)) from exc


def cert_info(der: bytes) -> CertInfo:
    """Read one DER certificate; fall back to ``cryptography`` if the small reader gives up."""
    try:
        return parse_der(der)
    except DerError:
        return _cert_info_cryptography(der)


def _cert_info_cryptography(der: bytes) -> CertInfo:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return CertInfo(
        subject_cn=str(names[0].value) if names else "",
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        spki_der=spki,
    )


def pem_certificates(text: str) -> list[bytes]:
    """The DER bytes of every ``CERTIFICATE`` block in a PEM text, in order."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    out, pos = [], 0
    while (start := text.find(begin, pos)) != -1:
        stop = text.find(end, start)
        if stop == -1:
            raise DerError("a CERTIFICATE block has no END line")
        try:
            out.append(ssl.PEM_cert_to_DER_cert(text[start : stop + len(end)]))
        except ValueError as exc:
            raise DerError(f"a CERTIFICATE block is not valid base64: {exc}") from exc
        pos = stop + len(end)
    return out
