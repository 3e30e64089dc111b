"""Optional at-rest encryption of buffered frames (AES-256-GCM).

For devices that may be stolen: with ``buffer.encryption_key_file`` set,
every frame body is sealed with AES-256-GCM under a random 96-bit nonce,
authenticated together with its segment's sequence number and uid (a frame
cannot be moved to another file unnoticed). Frame headers stay in the
clear: they reveal signal, priority, record count and sizes, not content.

The key file holds 32 raw bytes or 64 hex digits and must not be readable
by group or others (mode 0600 or stricter); the agent refuses to start
otherwise. ``cryptography`` is imported only when a key is configured: it
costs ~15 MiB of RSS.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError

KEY_FILE_SETTING = "buffer.encryption_key_file"
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE


def key_id(key: bytes) -> bytes:
    """A 4-byte fingerprint stored in segment headers, to recognise the key a segment needs."""
    return hashlib.sha256(b"edge-agent buffer key\0" + key).digest()[:4]


def load_key(path: Path) -> bytes:
    """Read and check the key file; :class:`ConfigError` naming the setting on any problem."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}", key=KEY_FILE_SETTING) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} is not a regular file", key=KEY_FILE_SETTING)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"key file {path} has mode {mode:04o}; it must be readable by the agent only "
            f"(run: chmod 600 {path})",
            key=KEY_FILE_SETTING,
        )
    raw = path.read_bytes()
    if len(raw) == 32:
        return raw
    text = raw.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    raise ConfigError(
        f"key file {path} must hold 32 raw bytes or 64 hex digits (e.g. made with: "
        f"head -c 32 /dev/urandom > {path}), found {len(raw)} bytes",
        key=KEY_FILE_SETTING,
    )


class AesGcmSealer:
    """Implements :class:`edge_agent.buffer.frames.Sealer` with AES-256-GCM."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256 needs a 32-byte key")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead: Any = AESGCM(key)
        self.key_id = key_id(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + bytes(self._aead.encrypt(nonce, plaintext, aad))

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        if len(sealed) < OVERHEAD:
            raise ValueError("sealed body is too short")
        try:
            return bytes(self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad))
        except InvalidTag:
            raise ValueError("authentication failed (wrong key or tampered data)") from None


def open_sealer(path: str) -> AesGcmSealer | None:
    """The sealer for ``buffer.encryption_key_file`` (empty = no encryption)."""
    if not path:
        return None
    return AesGcmSealer(load_key(Path(path)))
