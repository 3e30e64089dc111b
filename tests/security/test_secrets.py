"""Secret files: permission policy, credentials directory, and errors that never quote the secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edge_agent.errors import ConfigError
from edge_agent.security.secrets import (
    permission_problem,
    read_secret,
    read_secret_line,
    resolve_secret_path,
)

SECRET = "tok-3f9a2c71e5d04b8a"


def _file(tmp_path: Path, mode: int, content: str = SECRET + "\n", name: str = "token") -> Path:
    path = tmp_path / name
    path.write_text(content)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("mode", "uid", "problem"),
    [
        (0o600, 1000, None),
        (0o400, 1000, None),
        (0o640, 0, None),  # root-owned, shared with the agent's group on purpose
        (0o640, 1000, "readable by its group"),
        (0o620, 0, "writable by its group"),
        (0o604, 0, "accessible to every user"),
        (0o644, 1000, "accessible to every user"),
        (0o602, 1000, "accessible to every user"),
        (0o601, 1000, "accessible to every user"),
    ],
)
def test_permission_policy(mode: int, uid: int, problem: str | None) -> None:
    """No access for others; group read only when root owns the file; never group write."""
    found = permission_problem(stat.S_IFREG | mode, uid)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_world_readable_secret_is_refused_with_file_and_fix(tmp_path: Path) -> None:
    """A 0644 token file is refused; the message names the key, the file, the mode and the chmod."""
    path = _file(tmp_path, 0o644)
    with pytest.raises(ConfigError) as info:
        read_secret(str(path), key="admin.bearer_token_file", what="admin token file", environ={})
    message = str(info.value)
    assert message.startswith("admin.bearer_token_file: admin token file ")
    assert f"{path} is accessible to every user" in message and "-rw-r--r--" in message
    assert f"chmod 600 {path}" in message and SECRET not in message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another owner")
def test_group_readable_secret_of_another_owner_is_refused(tmp_path: Path) -> None:
    """0640 is fine for root's file but refused for a file owned by an ordinary user."""
    path = _file(tmp_path, 0o640)
    assert read_secret(str(path), key="k", environ={}).strip() == SECRET.encode()
    os.chown(path, 1000, 1000)
    with pytest.raises(ConfigError, match="readable by its group"):
        read_secret(str(path), key="k", environ={})


def test_private_file_reads_and_first_line_is_the_token(tmp_path: Path) -> None:
    """A 0600 file is read; read_secret_line returns the first line without whitespace."""
    path = _file(tmp_path, 0o600, f"  {SECRET}  \nignored\n")
    assert read_secret_line(str(path), key="k", what="token file", environ={}) == SECRET


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "token file not found"),
        ("empty", "is empty"),
        ("blank_first", "starts with an empty line"),
        ("directory", "is not a regular file"),
        ("huge", "is larger than"),
        ("binary", "is not UTF-8 text"),
    ],
)
def test_bad_secret_files_get_precise_errors(tmp_path: Path, setup: str, message: str) -> None:
    """Missing, empty, directory, oversized and non-text secrets each get their own sentence."""
    path = tmp_path / "token"
    if setup == "empty":
        _file(tmp_path, 0o600, "\n")
    elif setup == "blank_first":
        _file(tmp_path, 0o600, "\n" + SECRET)
    elif setup == "directory":
        path.mkdir(mode=0o700)
    elif setup == "huge":
        _file(tmp_path, 0o600, "x" * 70000)
    elif setup == "binary":
        path.write_bytes(b"\xff\xfe" + SECRET.encode())
        path.chmod(0o600)
    with pytest.raises(ConfigError, match=message) as info:
        read_secret_line(str(path), key="k", what="token file", environ={})
    assert SECRET not in str(info.value)


def test_credentials_directory_paths(tmp_path: Path) -> None:
    """$CREDENTIALS_DIRECTORY/name and bare names found there resolve into the credentials directory."""
    creds = tmp_path / "creds"
    creds.mkdir()
    _file(creds, 0o400, name="admin.token")
    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    for value in (
        "$CREDENTIALS_DIRECTORY/admin.token",
        "${CREDENTIALS_DIRECTORY}/admin.token",
        "admin.token",
    ):
        assert resolve_secret_path(value, environ, key="k") == creds / "admin.token"
        assert read_secret_line(value, key="k", what="token", environ=environ) == SECRET
    assert resolve_secret_path("other.token", environ, key="k") == Path("other.token")
    with pytest.raises(ConfigError, match=r"refers to \$CREDENTIALS_DIRECTORY, which is not set"):
        resolve_secret_path("$CREDENTIALS_DIRECTORY/admin.token", {}, key="k")
