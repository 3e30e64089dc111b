"""Secret files (private keys, tokens, hash keys): find them, check who may read them, read them.

Policy, the one PostgreSQL applies to its server key: a secret file must
give "other" users no access at all; it may be group-readable only when root
owns it (an administrator deliberately shared it with the agent's group,
``root:edge-agent 0640``); it must never be group-writable. Anything looser
is refused at start with a message naming the file and the ``chmod`` that
fixes it.

The file is opened first and its mode taken from the open descriptor
(``fstat``), so a file swapped between the check and the read cannot slip
through. Contents never appear in a message: errors say which file and why,
never what it holds.

Paths may name systemd credentials (``LoadCredential=``):
``$CREDENTIALS_DIRECTORY/name`` and ``${CREDENTIALS_DIRECTORY}/name`` expand
to the service's credentials directory, and a bare relative name is looked
up there when the variable is set.

Everything here blocks (``open``/``read``): call it from a worker thread.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from edge_agent.errors import ConfigError

MAX_SECRET_BYTES = 64 * 1024  # keys and tokens are small; a bigger file is a mistake
_CREDENTIALS_VARS = ("${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY")


def resolve_secret_path(value: str, environ: Mapping[str, str], *, key: str) -> Path:
    """The file a config value names, with the systemd credentials directory expanded."""
    credentials = environ.get("CREDENTIALS_DIRECTORY", "").split(":")[0]
    for var in _CREDENTIALS_VARS:
        if value.startswith(var):
            if not credentials:
                raise ConfigError(
                    f"{value!r} refers to $CREDENTIALS_DIRECTORY, which is not set "
                    "(systemd sets it for units with LoadCredential=)",
                    key=key,
                )
            return Path(credentials) / value[len(var) :].lstrip("/")
    path = Path(value)
    if not path.is_absolute() and credentials and (Path(credentials) / path).is_file():
        return Path(credentials) / path
    return path


def permission_problem(mode: int, owner_uid: int) -> str | None:
    """Why a secret file with ``mode`` owned by ``owner_uid`` is too open, or None if it is fine."""
    if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH):
        return "accessible to every user on the device"
    if mode & stat.S_IWGRP:
        return "writable by its group"
    if mode & stat.S_IRGRP and owner_uid != 0:
        return "readable by its group (allowed only when root owns the file)"
    return None


def check_secret_mode(path: Path, mode: int, owner_uid: int, *, key: str, what: str) -> None:
    """Raise :class:`ConfigError` naming ``path`` and the fix when the mode is too open."""
    problem = permission_problem(mode, owner_uid)
    if problem is None:
        return
    raise ConfigError(
        f"{what} {path} is {problem} (mode {stat.filemode(mode)}); a secret must be private to the "
        f"agent: run 'chmod 600 {path}' (or 'chmod 640' with owner root and the agent's group), "
        "or deliver it as a systemd credential (LoadCredential=)",
        key=key,
    )


def read_secret(
    value: str,
    *,
    key: str,
    what: str = "secret file",
    environ: Mapping[str, str] | None = None,
    max_bytes: int = MAX_SECRET_BYTES,
) -> bytes:
    """Resolve, permission-check and read the secret file ``value`` names (blocking).

    Raises :class:`ConfigError` naming ``key`` and the file: missing,
    unreadable, too open, not a regular file, empty or too big.
    """
    path = resolve_secret_path(value, os.environ if environ is None else environ, key=key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}", key=key) from None
    except OSError as exc:
        raise ConfigError(f"cannot open {what} {path}: {exc.strerror or exc}", key=key) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{what} {path} is not a regular file", key=key)
        check_secret_mode(path, st.st_mode, st.st_uid, key=key, what=what)
        data = _read_bounded(fd, max_bytes)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}", key=key) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(f"{what} {path} is larger than {max_bytes} bytes; is it the right file?", key=key)
    if not data.strip():
        raise ConfigError(f"{what} {path} is empty", key=key)
    return data


def read_secret_line(value: str, *, key: str, what: str, environ: Mapping[str, str] | None = None) -> str:
    """A token file: its first line, surrounding whitespace removed (UTF-8)."""
    data = read_secret(value, key=key, what=what, environ=environ)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text", key=key) from None
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise ConfigError(f"{what} starts with an empty line; put the token on the first line", key=key)
    return line


def _read_bounded(fd: int, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
