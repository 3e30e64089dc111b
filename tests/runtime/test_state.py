"""The CBOR state store: atomic replacement, persistence, corrupt files moved aside."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import cbor2
import pytest

from edge_agent.runtime.state import CborStateStore, ensure_private_dir, write_atomic


async def test_put_persists_across_instances(tmp_path: Path) -> None:
    """Values written by one store are read back by a new one (as after a restart)."""
    path = tmp_path / "p.cbor"
    store = CborStateStore(path)
    await store.put("offset", 1234)
    await store.update({"inode": 99, "fingerprint": b"\x00\x01"})
    again = CborStateStore(path)
    assert again.get("offset") == 1234
    assert again.get("fingerprint") == b"\x00\x01"
    assert again.get("missing", "dflt") == "dflt"


async def test_file_is_private_and_tmp_is_gone(tmp_path: Path) -> None:
    """State files are 0600 and no temp file is left behind."""
    path = tmp_path / "p.cbor"
    await CborStateStore(path).put("k", "v")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.cbor"]


@pytest.mark.parametrize("garbage", [b"", b"\xff\xfe\xfd", cbor2.dumps([1, 2, 3]), b"\xa1\x61"])
def test_corrupt_file_is_moved_aside(
    tmp_path: Path, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreadable state file never stops the agent: it is kept as .corrupt and the store starts empty."""
    path = tmp_path / "p.cbor"
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING):
        store = CborStateStore(path)
    assert store.snapshot() == {}
    assert (tmp_path / "p.cbor.corrupt").read_bytes() == garbage
    assert "unreadable" in caplog.text


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    """A rewrite with shorter content leaves exactly the new bytes."""
    path = tmp_path / "f"
    write_atomic(path, b"a" * 1000)
    write_atomic(path, b"short")
    assert path.read_bytes() == b"short"


def test_state_directory_is_created_or_tightened_to_0700(tmp_path: Path) -> None:
    """A new state dir is 0700 even under umask 0; an existing 0755 one of ours is tightened."""
    old = os.umask(0)
    try:
        fresh = ensure_private_dir(tmp_path / "fresh")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    ensure_private_dir(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_state_files_are_0600_under_umask_0_and_over_a_leftover_temp_file(tmp_path: Path) -> None:
    """write_atomic produces 0600 files whatever the umask, even when a 0666 temp file was left behind."""
    target = tmp_path / "agent.cbor"
    leftover = tmp_path / "agent.cbor.tmp"
    leftover.write_bytes(b"junk")
    leftover.chmod(0o666)
    old = os.umask(0)
    try:
        write_atomic(target, b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"data"
