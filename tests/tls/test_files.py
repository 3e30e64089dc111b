"""Secret files: systemd credential paths, permission checks, change stamps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_agent.errors import ConfigError
from edge_agent.tls.files import FileStamp, check_private, resolve_path


def test_credentials_directory_expansion(tmp_path: Path) -> None:
    """$CREDENTIALS_DIRECTORY/name and bare names present there resolve into that directory."""
    (tmp_path / "key.pem").write_text("k")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert resolve_path("$CREDENTIALS_DIRECTORY/key.pem", env, key="k") == tmp_path / "key.pem"
    assert resolve_path("${CREDENTIALS_DIRECTORY}/key.pem", env, key="k") == tmp_path / "key.pem"
    assert resolve_path("key.pem", env, key="k") == tmp_path / "key.pem"
    assert resolve_path("other.pem", env, key="k") == Path("other.pem")
    assert resolve_path("/etc/x.pem", env, key="k") == Path("/etc/x.pem")


def test_credentials_variable_without_systemd_is_explained() -> None:
    """Using $CREDENTIALS_DIRECTORY outside systemd names the key and the missing variable."""
    with pytest.raises(ConfigError, match=r"exporter\.tls\.key_file: .*CREDENTIALS_DIRECTORY"):
        resolve_path("$CREDENTIALS_DIRECTORY/key.pem", {}, key="exporter.tls.key_file")


@pytest.mark.parametrize(
    ("mode", "ok"),
    # group-readable is fine only for root's files (root:edge-agent 0640), see edge_agent/security/secrets.py
    [(0o600, True), (0o640, os.geteuid() == 0), (0o400, True), (0o644, False), (0o602, False)],
)
def test_world_accessible_secrets_are_refused(tmp_path: Path, mode: int, ok: bool) -> None:
    """A key readable or writable by other users is refused with the chmod to run."""
    path = tmp_path / "key.pem"
    path.write_text("secret")
    os.chmod(path, mode)
    if ok:
        check_private(path, key="exporter.tls.key_file")
    else:
        with pytest.raises(ConfigError, match=rf"(every user|readable by its group).*chmod 600 {path}"):
            check_private(path, key="exporter.tls.key_file")


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    """A missing key file error names the key and the path."""
    with pytest.raises(ConfigError, match=r"exporter\.tls\.key_file: file not found: .*nope\.pem"):
        check_private(tmp_path / "nope.pem", key="exporter.tls.key_file")


def test_stamps_change_on_rewrite_and_replace(tmp_path: Path) -> None:
    """Rewriting in place or replacing by rename both change the stamp; a missing file is all zeros."""
    path = tmp_path / "cert.pem"
    path.write_text("one")
    first = FileStamp.of(path)
    path.write_text("two, longer")
    second = FileStamp.of(path)
    other = tmp_path / "new.pem"
    other.write_text("two, longer")
    os.replace(other, path)
    third = FileStamp.of(path)
    assert len({first, second, third}) == 3
    assert FileStamp.of(tmp_path / "missing") == FileStamp(str(tmp_path / "missing"), 0, 0, 0, 0)
