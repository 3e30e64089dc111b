"""Certificate rotation: candidate files, live test, journaled swap, recovery after a crash, CSR keys."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
import trio

from edge_agent.errors import ExportTransportError
from edge_agent.fleet import csr
from edge_agent.fleet import messages as m
from edge_agent.fleet.protocol import CertificateOffer
from edge_agent.fleet.rotation import CertificateRotator, CertPaths, _commit, _write_journal, recover
from tools.fleetlib import CaSigner
from tools.pkilib import make_ca


def _ca() -> CaSigner:
    ca = make_ca("rotation test CA", days=30)
    return CaSigner(ca.cert_pem, ca.key_pem)


class Fixture:
    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "state"
        self.ca = _ca()
        certs = tmp_path / "certs"
        certs.mkdir()
        self.paths = CertPaths(certs / "client.pem", certs / "client.key")
        cert, key, _ = self.ca.issue("old")
        self.paths.cert.write_bytes(cert)
        self.paths.key.write_bytes(key)
        self.old = (cert, key)
        self.probed: list[CertPaths] = []
        self.installed: list[CertPaths] = []
        self.refuse: str | None = None

    async def probe(self, candidate: CertPaths) -> None:
        """A real check of the candidate pair: it must load into a TLS context; or refuse like a server would."""
        self.probed.append(candidate)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_cert_chain(str(candidate.cert), str(candidate.key))
        if self.refuse:
            raise ExportTransportError(self.refuse)

    async def install(self, paths: CertPaths) -> None:
        self.installed.append(paths)

    def rotator(self) -> CertificateRotator:
        return CertificateRotator(
            self.state, self.paths, probe=self.probe, install=self.install, on_change=lambda: None
        )


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def _offer(cert: bytes, key: bytes = b"", ca: bytes = b"") -> CertificateOffer:
    return CertificateOffer(cert, key, ca, b"offer-" + cert[-20:])


async def test_offered_pair_is_tested_then_swapped_in(fx: Fixture) -> None:
    """A good offer is probed from candidate files, then replaces the live files (0600) and is installed."""
    cert, key, ca = fx.ca.issue("new")
    status = await fx.rotator().rotate(_offer(cert, key, ca))
    assert status.status == m.STATUS_APPLIED
    assert fx.probed == [fx.paths.candidate()]
    assert fx.installed == [fx.paths]
    assert (fx.paths.cert.read_bytes(), fx.paths.key.read_bytes()) == (cert, key)
    assert stat.S_IMODE(fx.paths.key.stat().st_mode) == 0o600
    assert not fx.paths.candidate().cert.exists() and not fx.paths.candidate().key.exists()
    assert not (fx.state / "fleet" / "rotation.cbor").exists()


async def test_failed_live_test_keeps_the_old_certificate(fx: Fixture) -> None:
    """If the new certificate cannot connect, it is deleted, the old files are untouched, FAILED says why."""
    cert, key, ca = fx.ca.issue("new")
    fx.refuse = "fleet.example:4320: the server refused the client certificate"
    status = await fx.rotator().rotate(_offer(cert, key, ca))
    assert status.status == m.STATUS_FAILED and "refused the client certificate" in status.error
    assert (fx.paths.cert.read_bytes(), fx.paths.key.read_bytes()) == fx.old
    assert not fx.paths.candidate().cert.exists() and fx.installed == []


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda ca: (ca.issue("a")[0], ca.issue("b")[1]), "does not belong to its private key"),
        (lambda ca: (b"not a cert", ca.issue("b")[1]), "certificate is not valid PEM"),
        (lambda ca: (ca.issue("a")[0], b""), "made no CSR"),
    ],
)
async def test_unusable_offers_are_refused_before_any_file_is_written(
    fx: Fixture, make: object, error: str
) -> None:
    """Mismatched pair, garbage, or a key-less offer without our CSR: refused, nothing probed."""
    cert, key = make(fx.ca)  # type: ignore[operator]
    status = await fx.rotator().rotate(_offer(cert, key))
    assert status.status == m.STATUS_FAILED and error in status.error
    assert fx.probed == [] and (fx.paths.cert.read_bytes(), fx.paths.key.read_bytes()) == fx.old


async def test_expired_certificate_is_refused(fx: Fixture) -> None:
    """An offer that already expired is refused with its expiry date."""
    fx.ca.days = 0.001  # valid from 5 minutes ago for 86 s: expired by now
    cert, key, _ = fx.ca.issue("stale")
    status = await fx.rotator().rotate(_offer(cert, key))
    assert status.status == m.STATUS_FAILED and "expired" in status.error


async def test_csr_answer_uses_the_device_key(fx: Fixture) -> None:
    """A certificate issued for our CSR (no key in the offer) is paired with the key made on the device."""
    request = await trio.to_thread.run_sync(csr.pending_request, fx.state, "device-uid")
    assert stat.S_IMODE((fx.state / "fleet" / csr.PENDING_KEY).stat().st_mode) == 0o600
    cert, ca = fx.ca.sign_csr(request.csr_pem, "device-uid")
    status = await fx.rotator().rotate(_offer(cert, b"", ca))
    assert status.status == m.STATUS_APPLIED
    assert fx.paths.key.read_bytes() == request.key_pem
    assert not (fx.state / "fleet" / csr.PENDING_KEY).exists()


def test_pending_request_survives_a_restart(tmp_path: Path) -> None:
    """After a restart the same device key is used: a certificate for the first CSR still fits."""
    first = csr.pending_request(tmp_path, "uid-1")
    second = csr.pending_request(tmp_path, "uid-1")
    assert first.key_pem == second.key_pem
    assert csr.public_key_der(first.key_pem, private=True)


def test_recover_finishes_a_commit_cut_short(fx: Fixture) -> None:
    """Killed between the two renames: the next start completes the swap before anything loads the files."""
    cert, key, _ = fx.ca.issue("new")
    candidate = fx.paths.candidate()
    candidate.cert.write_bytes(cert)
    candidate.key.write_bytes(key)
    _write_journal(fx.state, "committing", fx.paths)
    candidate.key.rename(fx.paths.key)  # the first rename happened, then SIGKILL
    assert "finished a certificate rotation" in recover(fx.state)
    assert (fx.paths.cert.read_bytes(), fx.paths.key.read_bytes()) == (cert, key)
    assert recover(fx.state) == ""


def test_recover_drops_an_untested_candidate(fx: Fixture) -> None:
    """Killed while the candidate was being tested: the candidate goes, the old pair stays."""
    cert, _, _ = fx.ca.issue("new")
    _write_journal(fx.state, "candidate", fx.paths)
    fx.paths.candidate().cert.write_bytes(cert)
    assert "dropped an untested certificate candidate" in recover(fx.state)
    assert not fx.paths.candidate().cert.exists()
    assert (fx.paths.cert.read_bytes(), fx.paths.key.read_bytes()) == fx.old


def test_commit_is_idempotent(fx: Fixture) -> None:
    """Running the commit again after it completed changes nothing (recovery may repeat it)."""
    cert, key, _ = fx.ca.issue("new")
    fx.paths.candidate().cert.write_bytes(cert)
    fx.paths.candidate().key.write_bytes(key)
    _commit(fx.state, fx.paths)
    _commit(fx.state, fx.paths)
    assert (fx.paths.cert.read_bytes(), fx.paths.key.read_bytes()) == (cert, key)
