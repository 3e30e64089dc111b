"""Durable remote-config records: staged, committed (last-known-good), and the decision at start.

Theory of operation. Each record is one CBOR file replaced atomically
(``write_atomic``: temp file, fsync, rename, fsync of the directory), so a
file holds a whole old record or a whole new one, never a mix. A remote
config moves through two files in ``<state_dir>/fleet/``:

1. ``staged.cbor`` is written (durably) before the running config is touched;
2. after the health window, ``committed.cbor`` is replaced by the staged
   record: this rename is the commit point;
3. ``staged.cbor`` is removed.

At start the agent runs exactly what ``committed.cbor`` holds (the
last-known-good config; none = local config only). A ``staged.cbor`` that
is still there means the previous process died while applying: if it holds
the committed config the commit had happened (step 3 was cut short);
otherwise that apply never finished, so the old config runs and the
interrupted one is remembered, reported FAILED and not retried (a config
that crashes the agent must not crash it in a loop). Either way a SIGKILL
at any instant leaves the device on the old or the new config, never on a
half-applied one.

All functions here block (file I/O): call them through ``trio.to_thread``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from edge_agent.runtime.state import ensure_private_dir, fsync_dir, write_atomic

log = logging.getLogger("edge_agent.fleet")

STAGED = "staged.cbor"
COMMITTED = "committed.cbor"


@dataclass(frozen=True)
class ConfigRecord:
    """One verified remote config, as staged or committed."""

    config: bytes  # agent.toml
    signature: bytes  # agent.toml.sig
    config_hash: bytes  # the server's AgentRemoteConfig.config_hash
    version: int  # the signed version
    issued_at: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.config).hexdigest()

    @property
    def label(self) -> str:
        """The name of this layer in config origins and logs: ``fleet config v17``."""
        return f"fleet config v{self.version}"

    def encode(self) -> bytes:
        return cbor2.dumps(
            {
                "config": self.config,
                "signature": self.signature,
                "config_hash": self.config_hash,
                "version": self.version,
                "issued_at": self.issued_at,
                "sha256": self.sha256,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> ConfigRecord:
        raw = cbor2.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("not a map")
        record = cls(
            bytes(raw["config"]),
            bytes(raw["signature"]),
            bytes(raw["config_hash"]),
            int(raw["version"]),
            str(raw["issued_at"]),
        )
        if record.sha256 != raw.get("sha256"):
            raise ValueError("config bytes do not match their recorded SHA-256")
        return record


@dataclass(frozen=True)
class BootDecision:
    """What runs at start, decided only from what is committed."""

    committed: ConfigRecord | None
    interrupted: ConfigRecord | None  # an apply the previous process did not finish


class ConfigStore:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "fleet"

    def _path(self, name: str) -> Path:
        return self.directory / name

    def read(self, name: str) -> ConfigRecord | None:
        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return ConfigRecord.decode(data)
        except (ValueError, KeyError, TypeError, EOFError, cbor2.CBORDecodeError) as exc:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            log.error("fleet record %s was unreadable (%s); moved to %s and ignored", path, exc, aside)
            return None

    def stage(self, record: ConfigRecord) -> None:
        ensure_private_dir(self.directory)
        write_atomic(self._path(STAGED), record.encode())

    def commit(self, record: ConfigRecord) -> None:
        """Make ``record`` the last-known-good config (the atomic commit point), then drop the staged copy."""
        ensure_private_dir(self.directory)
        write_atomic(self._path(COMMITTED), record.encode())
        self.discard_staged()

    def discard_staged(self) -> None:
        try:
            self._path(STAGED).unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.directory)

    def committed(self) -> ConfigRecord | None:
        return self.read(COMMITTED)

    def boot(self) -> BootDecision:
        """Decide what runs at start (see the module docstring) and clean up a cut-short apply."""
        committed = self.read(COMMITTED)
        staged = self.read(STAGED)
        interrupted = None
        if staged is not None:
            if committed is None or staged.sha256 != committed.sha256 or staged.version != committed.version:
                interrupted = staged
                log.error(
                    "the previous run was interrupted while applying %s; running %s instead",
                    staged.label,
                    committed.label if committed else "the local config",
                )
            self.discard_staged()
        return BootDecision(committed, interrupted)


def record_summary(record: ConfigRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"version": record.version, "issued_at": record.issued_at, "sha256": record.sha256}
