"""tools/pki.py: a usable dev PKI with private keys, variants, pins."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from edge_agent.config.sources import load_toml_text

ROOT = Path(__file__).resolve().parents[2]


def _pki(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "pki.py"), *args], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_init_writes_the_layout_with_private_keys(tmp_path: Path) -> None:
    """init creates CA, server and client files; keys are 0600; the printed config is valid TOML."""
    out = _pki("init", str(tmp_path))
    for rel in ("ca/ca.pem", "server/server.pem", "clients/device-1/cert.pem"):
        assert (tmp_path / rel).is_file()
    for rel in ("ca/ca.key", "server/server.key", "clients/device-1/key.pem"):
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o600
    server = x509.load_pem_x509_certificate((tmp_path / "server/server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1"} <= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    config = load_toml_text(out.split("agent config:", 1)[1], "snippet")
    assert "tls" in config["exporter"]  # type: ignore[operator]


def test_variants_and_pin(tmp_path: Path) -> None:
    """client --expired, server with other names and pin all work on an existing PKI."""
    _pki("init", str(tmp_path))
    _pki("client", str(tmp_path), "old", "--expired")
    old = x509.load_pem_x509_certificate((tmp_path / "clients/old/cert.pem").read_bytes())
    assert old.not_valid_after_utc.timestamp() < __import__("time").time()
    _pki("server", str(tmp_path), "gw.example", "10.0.0.5", "--name", "gw")
    assert (tmp_path / "server/gw.pem").is_file()
    pin = _pki("pin", str(tmp_path / "server/server.pem")).strip()
    assert len(pin) == 44 and pin.endswith("=")


def test_missing_pki_is_explained(tmp_path: Path) -> None:
    """Issuing into a directory without a CA says to run init first."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "pki.py"), "client", str(tmp_path), "x"],
        capture_output=True,
        check=False,
        text=True,
    )
    assert out.returncode != 0
    assert "run 'python tools/pki.py init" in out.stderr
