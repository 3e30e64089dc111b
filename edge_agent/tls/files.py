"""Secret and certificate files: where they are, who may read them, whether they changed.

Blocking helpers (``stat``/``open``): call them from a worker thread.

Paths may name systemd credentials: ``$CREDENTIALS_DIRECTORY/key.pem`` (or
``${CREDENTIALS_DIRECTORY}/key.pem``) expands to the service's credentials
directory (``LoadCredential=`` in the unit file), and so does a bare
relative name when that directory is set and holds the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge_agent.errors import ConfigError
from edge_agent.security.secrets import check_secret_mode, resolve_secret_path


def resolve_path(value: str, environ: Mapping[str, str], *, key: str) -> Path:
    """The file a config value names, with systemd credential directories expanded."""
    return resolve_secret_path(value, environ, key=key)


def check_private(path: Path, *, key: str) -> None:
    """Refuse a secret file other users may read or change (the policy of
    :mod:`edge_agent.security.secrets`: no access for others, group read only when root owns it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", key=key) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", key=key) from None
    check_secret_mode(path, st.st_mode, st.st_uid, key=key, what="secret file")


def read_text(path: Path, *, key: str, what: str) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}", key=key) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read {what} {path}: {reason}", key=key) from None


@dataclass(frozen=True)
class FileStamp:
    """What changes when a file is rewritten or replaced: inode, size, mtime."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        """The file's current stamp; a missing file gets an all-zero stamp."""
        try:
            st = os.stat(path)
        except OSError:
            return cls(str(path), 0, 0, 0, 0)
        return cls(str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def stamps(paths: tuple[Path, ...]) -> tuple[FileStamp, ...]:
    return tuple(FileStamp.of(p) for p in paths)
