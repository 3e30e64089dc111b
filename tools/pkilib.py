"""A small development PKI (``cryptography``): a CA, server and client certificates.

Used by ``tools/pki.py`` (the command line) and by the tests, which create
their PKI at run time in temporary directories (certificates and keys are
never committed). Keys are EC P-256 by default: generating one takes about a
millisecond, so a test can afford a fresh PKI.

Layout written by :meth:`DevPki.create` (edge-agent's config points at the
``clients/<name>/`` and ``ca/ca.pem`` files)::

    DIR/ca/ca.pem  ca/ca.key
    DIR/server/server.pem  server/server.key
    DIR/clients/<name>/cert.pem  clients/<name>/key.pem

Key files are created with mode 0600, as the agent requires.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, cert_path: Path, key_path: Path) -> tuple[Path, Path]:
        """Write both files (key mode 0600), replacing existing ones atomically."""
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        write_file(cert_path, self.cert_pem, 0o644)
        write_file(key_path, self.key_pem, 0o600)
        return cert_path, key_path


def write_file(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _validity(not_before: dt.datetime | None, days: float) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or (_now() - dt.timedelta(minutes=5))
    return start, start + dt.timedelta(days=days)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edge-agent dev PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_ca(
    cn: str = "edge-agent dev CA",
    *,
    days: float = 3650,
    key_kind: str = "ec",
    not_before: dt.datetime | None = None,
) -> Issued:
    key = new_key(key_kind)
    start, end = _validity(not_before, days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Issued(builder.sign(key, hashes.SHA256()), key)


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def issue(
    ca: Issued,
    cn: str,
    *,
    server_names: Sequence[str] = (),
    client: bool = False,
    days: float = 365,
    not_before: dt.datetime | None = None,
    key_kind: str = "ec",
) -> Issued:
    """A leaf certificate signed by ``ca`` (server if ``server_names``, client if ``client``)."""
    key = new_key(key_kind)
    start, end = _validity(not_before, days)
    usages = []
    if server_names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if server_names:
        builder = builder.add_extension(_san(server_names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def make_server(ca: Issued, names: Sequence[str] = DEFAULT_SERVER_NAMES, **kwargs: object) -> Issued:
    return issue(ca, names[0], server_names=names, **kwargs)  # type: ignore[arg-type]


def make_client(ca: Issued, cn: str = "device-1", **kwargs: object) -> Issued:
    return issue(ca, cn, client=True, **kwargs)  # type: ignore[arg-type]


def expired(ca: Issued, cn: str, *, client: bool = True, server_names: Sequence[str] = ()) -> Issued:
    """A certificate that expired yesterday (valid for a day, ending one day ago)."""
    start = _now() - dt.timedelta(days=2)
    return issue(ca, cn, client=client, server_names=server_names, days=1, not_before=start)


def spki_sha256(cert: x509.Certificate) -> str:
    """The base64 SHA-256 of the certificate's SubjectPublicKeyInfo (``pinned_spki_sha256``)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@dataclass(frozen=True)
class ClientFiles:
    cert: Path
    key: Path


@dataclass
class DevPki:
    """A CA, one server certificate and any number of client certificates under ``root``."""

    root: Path
    ca: Issued
    server: Issued

    @classmethod
    def create(
        cls, root: Path, *, server_names: Sequence[str] = DEFAULT_SERVER_NAMES, key_kind: str = "ec"
    ) -> DevPki:
        ca = make_ca(key_kind=key_kind)
        server = make_server(ca, server_names, key_kind=key_kind)
        pki = cls(root, ca, server)
        ca.write(pki.ca_file, root / "ca" / "ca.key")
        server.write(pki.server_cert, pki.server_key)
        return pki

    @property
    def ca_file(self) -> Path:
        return self.root / "ca" / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.root / "server" / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server" / "server.key"

    def client_paths(self, name: str) -> ClientFiles:
        return ClientFiles(
            self.root / "clients" / name / "cert.pem", self.root / "clients" / name / "key.pem"
        )

    def add_client(self, name: str = "device-1", **kwargs: object) -> ClientFiles:
        files = self.client_paths(name)
        make_client(self.ca, name, **kwargs).write(files.cert, files.key)
        return files

    def write_server(self, issued: Issued, name: str) -> tuple[Path, Path]:
        """Write another server certificate (e.g. a wrong-name variant) as ``server/<name>.pem|.key``."""
        return issued.write(self.root / "server" / f"{name}.pem", self.root / "server" / f"{name}.key")

    def config_snippet(self, client: str = "device-1", endpoint: str = "https://localhost:4318") -> str:
        files = self.client_paths(client)
        return (
            "[exporter]\n"
            f'endpoint = "{endpoint}"\n\n'
            "[exporter.tls]\n"
            f'ca_file = "{self.ca_file}"\n'
            f'cert_file = "{files.cert}"\n'
            f'key_file = "{files.key}"\n'
        )
