"""Client certificate rotation: offered certificate -> candidate files -> live test -> atomic swap.

Theory of operation (the spec's "OpAMP Connection Setting Offer Flow"; the
statuses are reported as ConnectionSettingsStatus):

1. **APPLYING.** The offer's certificate must match its private key (offered
   with it, or the key this device made for its CSR, :mod:`.csr`) and be
   valid now.
2. **Candidate.** Certificate and key are written next to the live files
   as ``<file>.new`` (mode 0600, fsynced), and a journal
   (``<state_dir>/fleet/rotation.cbor``) records the candidate.
3. **Live test.** ``probe`` connects with the candidate credentials to the
   servers that will see them (the fleet server with a real OpAMP exchange,
   and the exporter's upstream when it uses TLS). Any failure: the
   candidate files are deleted, the old ones stay, **FAILED** with the
   reason; nothing the exporter uses was touched.
4. **Commit.** The journal switches to "committing", then each ``.new``
   file is renamed over the live one and the directory fsynced. Two renames
   are not one atomic step, so the journal makes them one: a process killed
   between them finishes the renames at the next start
   (:func:`recover`) before anything loads the credentials; a journal still
   in "candidate" means the test never passed, and the candidate is dropped.
5. **Install.** ``install`` swaps the new credentials into the running
   exporter and fleet client (new connections use them; the exporter keeps
   delivering on its existing connections meanwhile). **APPLIED**.

Blocking steps run in worker threads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import trio

from edge_agent.errors import EdgeAgentError
from edge_agent.fleet import csr
from edge_agent.fleet import messages as m
from edge_agent.fleet.protocol import CertificateOffer
from edge_agent.runtime.state import ensure_private_dir, fsync_dir, write_atomic

log = logging.getLogger("edge_agent.fleet")

JOURNAL = "rotation.cbor"


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path

    def candidate(self) -> CertPaths:
        return CertPaths(
            self.cert.with_name(self.cert.name + ".new"), self.key.with_name(self.key.name + ".new")
        )


Probe = Callable[[CertPaths], Awaitable[None]]
Install = Callable[[CertPaths], Awaitable[None]]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal(state_dir: Path) -> Path:
    return state_dir / "fleet" / JOURNAL


def _write_journal(state_dir: Path, phase: str, paths: CertPaths) -> None:
    ensure_private_dir(state_dir / "fleet")
    doc = {"phase": phase, "cert": str(paths.cert), "key": str(paths.key)}
    write_atomic(_journal(state_dir), cbor2.dumps(doc))


def _clear_journal(state_dir: Path) -> None:
    _journal(state_dir).unlink(missing_ok=True)


def _drop_candidate(state_dir: Path, paths: CertPaths) -> None:
    candidate = paths.candidate()
    candidate.cert.unlink(missing_ok=True)
    candidate.key.unlink(missing_ok=True)
    _clear_journal(state_dir)


def _commit(state_dir: Path, paths: CertPaths) -> None:
    _write_journal(state_dir, "committing", paths)
    candidate = paths.candidate()
    for new, live in ((candidate.key, paths.key), (candidate.cert, paths.cert)):
        if new.exists():  # after a crash some renames may already be done
            os.replace(new, live)
    for directory in {paths.cert.parent, paths.key.parent}:
        fsync_dir(directory)
    _clear_journal(state_dir)


def recover(state_dir: Path) -> str:
    """At start, before any credentials are loaded: finish or drop a rotation cut short (blocking)."""
    try:
        doc: dict[str, Any] = cbor2.loads(_journal(state_dir).read_bytes())
    except FileNotFoundError:
        return ""
    except (ValueError, EOFError, cbor2.CBORDecodeError):
        _clear_journal(state_dir)
        return "an unreadable certificate rotation journal was removed"
    paths = CertPaths(Path(doc["cert"]), Path(doc["key"]))
    if doc.get("phase") == "committing":
        _commit(state_dir, paths)
        return f"finished a certificate rotation cut short: {paths.cert} and {paths.key} are the new ones"
    _drop_candidate(state_dir, paths)
    return "dropped an untested certificate candidate left by a restart; the previous certificate stays"


@dataclass
class RotationStatus:
    offer_hash: bytes = b""
    status: int = m.STATUS_UNSET
    error: str = ""

    def message(self) -> m.ConnectionSettingsStatus | None:
        if self.status == m.STATUS_UNSET:
            return None
        return m.ConnectionSettingsStatus(
            last_connection_settings_hash=self.offer_hash,
            status=self.status,  # type: ignore[arg-type]
            error_message=self.error,
        )


class CertificateRotator:
    def __init__(
        self,
        state_dir: Path,
        paths: CertPaths | None,
        *,
        probe: Probe,
        install: Install,
        on_change: Callable[[], None],
    ) -> None:
        self.state_dir = state_dir
        self.paths = paths
        self.probe = probe
        self.install = install
        self.status = RotationStatus()
        self.rotations = 0
        self._on_change = on_change

    def _set(self, offer_hash: bytes, status: int, error: str = "") -> None:
        self.status = RotationStatus(offer_hash, status, error)
        self._on_change()

    async def rotate(self, offer: CertificateOffer) -> RotationStatus:
        self._set(offer.offer_hash, m.STATUS_APPLYING)
        paths = self.paths
        if paths is None:
            return self._fail(
                offer, "this device has no client certificate files to rotate (set cert_file and key_file)"
            )
        try:
            key_pem, from_csr = await trio.to_thread.run_sync(self._key_for, offer)
            await trio.to_thread.run_sync(self._write_candidate, paths, offer.cert_pem, key_pem)
            await self.probe(paths.candidate())
        except (EdgeAgentError, OSError, ValueError) as exc:
            await trio.to_thread.run_sync(_drop_candidate, self.state_dir, paths)
            return self._fail(offer, str(exc))
        await trio.to_thread.run_sync(_commit, self.state_dir, paths)
        if from_csr:
            await trio.to_thread.run_sync(csr.forget_request, self.state_dir)
        await self.install(paths)
        self.rotations += 1
        log.info("fleet: rotated the client certificate (%s); new connections use it", paths.cert)
        self._set(offer.offer_hash, m.STATUS_APPLIED)
        return self.status

    def _fail(self, offer: CertificateOffer, reason: str) -> RotationStatus:
        log.error("fleet: certificate offer refused, the current certificate stays in use: %s", reason)
        self._set(offer.offer_hash, m.STATUS_FAILED, reason)
        return self.status

    def _key_for(self, offer: CertificateOffer) -> tuple[bytes, bool]:
        """The private key of the offered certificate (blocking); raises CertificateError."""
        from_csr = not offer.key_pem
        if from_csr:
            try:
                key_pem = (self.state_dir / "fleet" / csr.PENDING_KEY).read_bytes()
            except FileNotFoundError:
                raise csr.CertificateError(
                    "the offer has no private key and this device made no CSR"
                ) from None
        else:
            key_pem = offer.key_pem
        if csr.public_key_der(key_pem, private=True) != csr.public_key_der(offer.cert_pem, private=False):
            raise csr.CertificateError("the offered certificate does not belong to its private key")
        problem = csr.validity_problem(offer.cert_pem)
        if problem is not None:
            raise csr.CertificateError(problem)
        return key_pem, from_csr

    def _write_candidate(self, paths: CertPaths, cert_pem: bytes, key_pem: bytes) -> None:
        candidate = paths.candidate()
        _write_journal(self.state_dir, "candidate", paths)
        _write_private(candidate.key, key_pem)
        _write_private(candidate.cert, cert_pem)
