"""Loading TLS client material from files, and every way the files can be wrong."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from edge_agent.errors import ConfigError
from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.material import load_client_material
from tests.tlshelpers import make_pki
from tools import pkilib
from tools.pkilib import DevPki


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return make_pki(tmp_path / "pki")


def _config(pki: DevPki, **overrides: str) -> TlsClientConfig:
    files = pki.client_paths("device-1")
    values = {"ca_file": str(pki.ca_file), "cert_file": str(files.cert), "key_file": str(files.key)}
    values.update(overrides)
    return TlsClientConfig(**values)  # type: ignore[arg-type]


def test_loads_a_complete_client_set(pki: DevPki) -> None:
    """CA, certificate and key load into a verifying TLS 1.2+ context with the cert's facts."""
    material = load_client_material(_config(pki), {})
    assert material.context.verify_mode == ssl.CERT_REQUIRED
    assert material.context.check_hostname
    assert material.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert material.client_cert is not None and material.client_cert.subject_cn == "device-1"
    assert len(material.ca_certs) == 1
    assert len(material.files) == len(material.stamps) == 3
    described = str(material.describe(0.0))
    assert "PRIVATE KEY" not in described and "device-1" in described


def test_tls13_minimum_and_server_name_override(pki: DevPki) -> None:
    """min_version 1.3 and server_name_override reach the context and the SNI choice."""
    config = TlsClientConfig(ca_file=str(pki.ca_file), min_version="1.3", server_name_override="gw.example")
    material = load_client_material(config, {})
    assert material.context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert material.server_name("127.0.0.1") == "gw.example"
    assert material.client_cert is None


def _write(path: Path, data: bytes, mode: int = 0o600) -> str:
    path.write_bytes(data)
    os.chmod(path, mode)
    return str(path)


def test_mismatched_pair_is_refused(pki: DevPki, tmp_path: Path) -> None:
    """A certificate with another certificate's key is refused, naming both files."""
    other = pki.add_client("device-2")
    with pytest.raises(ConfigError, match="do not belong together") as info:
        load_client_material(_config(pki, key_file=str(other.key)), {})
    assert info.value.key == "exporter.tls.key_file"


def test_world_readable_key_is_refused(pki: DevPki) -> None:
    """A 0644 key file is refused before it is even read."""
    key = pki.client_paths("device-1").key
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError, match="every user"):
        load_client_material(_config(pki), {})


def test_encrypted_key_is_refused_with_the_fix(pki: DevPki, tmp_path: Path) -> None:
    """An encrypted key is refused with how to decrypt it (the agent cannot prompt)."""
    issued = pkilib.make_client(pki.ca, "enc")
    pem = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    cert = _write(tmp_path / "enc.pem", issued.cert_pem, 0o644)
    key = _write(tmp_path / "enc.key", pem)
    with pytest.raises(ConfigError, match=r"encrypted.*openssl pkey"):
        load_client_material(_config(pki, cert_file=cert, key_file=key), {})


@pytest.mark.parametrize(
    ("field", "content", "message"),
    [
        ("ca_file", None, "CA bundle not found"),
        ("ca_file", b"not a certificate\n", "holds no"),
        (
            "cert_file",
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "not a valid PEM certificate file",
        ),
        ("cert_file", None, "client certificate not found"),
    ],
)
def test_bad_files_are_named(
    pki: DevPki, tmp_path: Path, field: str, content: bytes | None, message: str
) -> None:
    """Missing or malformed files fail with the config key and the file named."""
    path = tmp_path / "bad.pem"
    if content is not None:
        _write(path, content, 0o644)
    with pytest.raises(ConfigError, match=message) as info:
        load_client_material(_config(pki, **{field: str(path)}), {})
    assert info.value.key == f"exporter.tls.{field}"
    assert str(path) in str(info.value)


def test_key_as_systemd_credential(pki: DevPki, tmp_path: Path) -> None:
    """key_file = "$CREDENTIALS_DIRECTORY/..." loads from the unit's credentials directory."""
    creds = tmp_path / "creds"
    creds.mkdir()
    key = pki.client_paths("device-1").key
    _write(creds / "client.key", key.read_bytes(), 0o400)
    config = _config(pki, key_file="$CREDENTIALS_DIRECTORY/client.key")
    material = load_client_material(config, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert creds / "client.key" in material.files


def test_loading_does_not_import_cryptography(pki: DevPki) -> None:
    """The running agent's TLS path never imports cryptography (+15 MiB RSS), only the dev tools do."""
    import subprocess
    import sys

    files = pki.client_paths("device-1")
    code = (
        "import sys\n"
        "from edge_agent.tls.config import TlsClientConfig\n"
        "from edge_agent.tls.material import load_client_material\n"
        "from edge_agent.tls.store import TlsCredentials\n"
        "import edge_agent.export.exporter, edge_agent.tls.connect\n"
        f"config = TlsClientConfig(ca_file={str(pki.ca_file)!r}, cert_file={str(files.cert)!r}, key_file={str(files.key)!r})\n"
        "store = TlsCredentials(load_client_material(config, {}), environ={})\n"
        "print(store.status()['client_cert']['subject_cn'], 'cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["device-1", "False"]
