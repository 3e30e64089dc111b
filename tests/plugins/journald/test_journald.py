"""The journald plugin against real journal files (written by systemd-journal-remote), via real journalctl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import trio

from edge_agent import Duration, Signal
from edge_agent.testing import RecordingContext
from edge_agent_plugins.journald import JournaldConfig, JournaldReceiver, _check_priority
from tests.peers import require

BOOT = "0123456789abcdef0123456789abcdef"


def _write_entries(journal: Path, first: int, count: int, unit: str = "app.service") -> None:
    """Append entries to a real journal file through systemd-journal-remote (export format on stdin)."""
    remote = require("systemd-journal-remote")
    export = "".join(
        f"__REALTIME_TIMESTAMP={1_700_000_000_000_000 + i}\n__MONOTONIC_TIMESTAMP={1000 + i}\n_BOOT_ID={BOOT}\n"
        f"MESSAGE=entry {i}\nPRIORITY={i % 8}\n_SYSTEMD_UNIT={unit}\n\n"
        for i in range(first, first + count)
    )
    subprocess.run(
        [str(remote), "-o", str(journal), "-"], input=export.encode(), check=True, capture_output=True
    )


def _config(journal: Path, **overrides: object) -> JournaldConfig:
    base = {"files": (str(journal),), "start_at": "beginning", "flush_interval": Duration(0.05)}
    return JournaldConfig(**{**base, **overrides})  # type: ignore[arg-type]


async def _collect(ctx: RecordingContext, config: JournaldConfig, n: int) -> list[str]:
    async with trio.open_nursery() as nursery:
        await nursery.start(JournaldReceiver(config).run, ctx)
        with trio.fail_after(10):
            await ctx.wait_for(Signal.LOGS, n)
        await trio.sleep(0.2)  # anything extra would show up now
        nursery.cancel_scope.cancel()
    return ctx.log_bodies()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    require("journalctl")
    path = tmp_path / "test.journal"
    _write_entries(path, 0, 20)
    return path


async def test_reads_follows_and_maps_severity(tmp_path: Path, journal: Path) -> None:
    """Existing entries are read, new ones followed; PRIORITY maps to severity; the cursor is saved."""
    ctx = RecordingContext(tmp_path / "s.cbor", name="journald")
    async with trio.open_nursery() as nursery:
        await nursery.start(JournaldReceiver(_config(journal)).run, ctx)
        with trio.fail_after(10):
            await ctx.wait_for(Signal.LOGS, 20)
        await trio.to_thread.run_sync(_write_entries, journal, 20, 5)
        with trio.fail_after(10):
            await ctx.wait_for(Signal.LOGS, 25)
        nursery.cancel_scope.cancel()
    assert ctx.log_bodies() == [f"entry {i}" for i in range(25)]
    record = ctx.decoded(Signal.LOGS)[0].resource_logs[0].scope_logs[0].log_records[3]
    assert (record.severity_number, record.severity_text) == (17, "err")  # PRIORITY 3
    assert record.time_unix_nano == (1_700_000_000_000_000 + 3) * 1000
    assert isinstance(ctx.state.get("cursor"), str)


async def test_restart_resumes_after_the_cursor(tmp_path: Path, journal: Path) -> None:
    """A new instance on the same state reads only entries after the saved cursor."""
    first = RecordingContext(tmp_path / "s.cbor")
    assert len(await _collect(first, _config(journal), 20)) == 20
    await trio.to_thread.run_sync(_write_entries, journal, 20, 3)
    second = RecordingContext(tmp_path / "s.cbor")
    assert await _collect(second, _config(journal), 3) == ["entry 20", "entry 21", "entry 22"]


async def test_unit_and_priority_filters(tmp_path: Path, journal: Path) -> None:
    """units and syslog_priority are passed to journalctl and filter the entries."""
    await trio.to_thread.run_sync(_write_entries, journal, 100, 8, "other.service")
    ctx = RecordingContext(tmp_path / "s.cbor")
    bodies = await _collect(ctx, _config(journal, units=("other.service",), syslog_priority="err"), 4)
    assert bodies == ["entry 104", "entry 105", "entry 106", "entry 107"]  # PRIORITY 0..3; 4..7 filtered out


async def test_missing_journalctl_is_a_clear_idle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Without journalctl the plugin logs one clear line, counts it and stays idle (no crash loop)."""
    ctx = RecordingContext(tmp_path / "s.cbor")
    config = JournaldConfig(journalctl="/nonexistent/journalctl")
    async with trio.open_nursery() as nursery:
        await nursery.start(JournaldReceiver(config).run, ctx)
        nursery.cancel_scope.cancel()
    assert ctx.events["journalctl_missing"] == 1
    assert "not found" in caplog.text and "disable the plugin" in caplog.text


def test_priority_check() -> None:
    """A bad priority names the accepted values."""
    with pytest.raises(ValueError, match="syslog priority"):
        _check_priority("loud")
    _check_priority("0..4")
    _check_priority("warning")
