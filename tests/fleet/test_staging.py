"""Durable staged/committed records and the decision at start after any interruption."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edge_agent.fleet.staging import COMMITTED, STAGED, ConfigRecord, ConfigStore


def _record(version: int, text: str = "x = 1") -> ConfigRecord:
    return ConfigRecord(text.encode(), b"sig", f"hash{version}".encode(), version, "2026-01-01T00:00:00Z")


def test_commit_replaces_and_removes_staged(tmp_path: Path) -> None:
    """stage then commit leaves exactly the committed record, private to the agent."""
    store = ConfigStore(tmp_path)
    store.stage(_record(1))
    assert store.read(STAGED) == _record(1)
    store.commit(_record(1))
    assert store.committed() == _record(1)
    assert not (store.directory / STAGED).exists()
    assert stat.S_IMODE((store.directory / COMMITTED).stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("committed", "staged", "runs", "interrupted"),
    [
        (None, None, None, None),  # never pushed: local config
        (1, None, 1, None),  # steady state
        (1, 2, 1, 2),  # killed before the commit: old config, v2 remembered as interrupted
        (None, 1, None, 1),  # first push killed before its commit
        (2, 2, 2, None),  # killed after the commit, before the staged copy was removed
    ],
)
def test_boot_decides_from_what_is_committed(
    tmp_path: Path, committed: int | None, staged: int | None, runs: int | None, interrupted: int | None
) -> None:
    """At start the committed record runs; a staged one that was not committed is an interrupted apply."""
    store = ConfigStore(tmp_path)
    if committed is not None:
        store.commit(_record(committed))
    if staged is not None:
        store.stage(_record(staged))
    decision = store.boot()
    assert (decision.committed.version if decision.committed else None) == runs
    assert (decision.interrupted.version if decision.interrupted else None) == interrupted
    assert not (store.directory / STAGED).exists()
    assert ConfigStore(tmp_path).boot().interrupted is None  # reported once, not at every start


def test_corrupt_record_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A committed record that fails to decode (a lying disk) is set aside with an error, never fatal."""
    store = ConfigStore(tmp_path)
    store.commit(_record(1))
    (store.directory / COMMITTED).write_bytes(b"\xa1garbage")
    assert store.boot().committed is None
    assert (store.directory / (COMMITTED + ".corrupt")).exists()
    assert "was unreadable" in caplog.text


def test_record_checks_its_own_digest(tmp_path: Path) -> None:
    """Config bytes that do not match their recorded SHA-256 are treated as corrupt."""
    import cbor2

    store = ConfigStore(tmp_path)
    store.commit(_record(1))
    raw = cbor2.loads((store.directory / COMMITTED).read_bytes())
    raw["config"] = b"tampered"
    (store.directory / COMMITTED).write_bytes(cbor2.dumps(raw))
    assert store.committed() is None
