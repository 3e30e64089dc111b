"""The filelog plugin on real files: start position, rotation, truncation, deletion, restarts, bad input."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from edge_agent import BufferFullError, ByteSize, Duration, Signal
from edge_agent.testing import RecordingContext
from edge_agent_plugins.filelog import FileLog, FileLogConfig
from edge_agent_plugins.filelog.config import _check_include, _check_parse_regex

FAST = {"poll_interval": Duration(0.02), "force_flush_period": Duration(0.1)}


def _config(pattern: str, **overrides: object) -> FileLogConfig:
    return FileLogConfig(include=(pattern,), **{**FAST, **overrides})  # type: ignore[arg-type]


@asynccontextmanager
async def tailing(ctx: RecordingContext, config: FileLogConfig) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(FileLog(config).run, ctx)
        yield
        nursery.cancel_scope.cancel()


def _append(path: Path, lines: list[str] | str) -> None:
    with path.open("a") as f:
        f.write(lines if isinstance(lines, str) else "".join(f"{line}\n" for line in lines))


async def _wait_bodies(ctx: RecordingContext, n: int) -> list[str]:
    with trio.fail_after(10):
        await ctx.wait_for(Signal.LOGS, n)
    await trio.sleep(0.1)  # let anything extra (a duplicate) show up
    return ctx.log_bodies()


async def _wait_checkpoint(ctx: RecordingContext, path: Path, size: int) -> None:
    """Wait until the state store holds ``size`` as path's committed offset."""
    with trio.fail_after(10):
        while not any(e["path"] == str(path) and e["offset"] == size for e in ctx.state.get("files", [])):
            await trio.sleep(0.01)


@pytest.fixture
def ctx(tmp_path: Path) -> RecordingContext:
    return RecordingContext(tmp_path / "state.cbor", name="filelog")


async def test_start_at_end_skips_existing_lines_then_tails(tmp_path: Path, ctx: RecordingContext) -> None:
    """start_at=end ignores what a file held at startup and forwards what is appended, with log.file.name."""
    log = tmp_path / "app.log"
    _append(log, ["old 1", "old 2"])
    async with tailing(ctx, _config(str(tmp_path / "*.log"))):
        _append(log, ["new 1", "new 2"])
        assert await _wait_bodies(ctx, 2) == ["new 1", "new 2"]
    record = ctx.decoded(Signal.LOGS)[0].resource_logs[0].scope_logs[0].log_records[0]
    assert (
        record.attributes[0].key == "log.file.name" and record.attributes[0].value.string_value == "app.log"
    )
    assert record.observed_time_unix_nano > 0


async def test_start_at_beginning_and_files_appearing_later(tmp_path: Path, ctx: RecordingContext) -> None:
    """start_at=beginning reads existing content; a file created later is read from its start."""
    _append(tmp_path / "a.log", ["a1", "a2"])
    async with tailing(ctx, _config(str(tmp_path / "*.log"), start_at="beginning")):
        await _wait_bodies(ctx, 2)
        _append(tmp_path / "b.log", ["b1"])
        assert sorted(await _wait_bodies(ctx, 3)) == ["a1", "a2", "b1"]


async def test_rename_rotation_loses_and_duplicates_nothing(tmp_path: Path, ctx: RecordingContext) -> None:
    """Rename rotation under steady writes: the old inode is read to its end, the new file from 0."""
    log = tmp_path / "app.log"
    log.touch()
    expected = []
    async with tailing(ctx, _config(str(log))):
        for rotation in range(3):
            batch = [f"r{rotation} line {i}" for i in range(200)]
            _append(log, batch[:150])
            await trio.sleep(0.03)
            _append(log, batch[150:])  # written just before the rename: only the open fd can read it
            os.rename(log, tmp_path / f"app.log.{rotation}")
            expected += batch
            log.touch()
        assert await _wait_bodies(ctx, len(expected)) == expected


async def test_copytruncate_rotation(tmp_path: Path, ctx: RecordingContext) -> None:
    """copytruncate: the truncated file is read again from 0; its copy (matched too) is not read twice."""
    log = tmp_path / "app.log"
    log.touch()
    async with tailing(ctx, _config(str(tmp_path / "app.log*"))):
        _append(log, [f"before {i}" for i in range(100)])
        await _wait_bodies(ctx, 100)
        _append(log, ["written before the copy"])
        (tmp_path / "app.log.1").write_bytes(log.read_bytes())  # copy ...
        with log.open("r+") as f:  # ... then truncate in place
            f.truncate(0)
        _append(log, ["after 1", "after 2"])
        bodies = await _wait_bodies(ctx, 103)
    assert sorted(bodies) == sorted(
        [f"before {i}" for i in range(100)] + ["written before the copy", "after 1", "after 2"]
    )
    assert ctx.events["files_truncated"] == 1


async def test_deleted_while_open_is_read_to_the_end(tmp_path: Path, ctx: RecordingContext) -> None:
    """Lines written just before a file is deleted are still forwarded; then the file is forgotten."""
    log = tmp_path / "app.log"
    log.touch()
    async with tailing(ctx, _config(str(log), poll_interval=Duration(0.3))):
        await trio.sleep(0.05)
        _append(log, ["last words 1", "last words 2"])
        log.unlink()
        assert await _wait_bodies(ctx, 2) == ["last words 1", "last words 2"]
        with trio.fail_after(5):
            while ctx.state.get("files"):  # forgotten: its checkpoint is gone
                await trio.sleep(0.02)


async def test_restart_resumes_without_rereading(tmp_path: Path) -> None:
    """After a restart on the same state, only lines written since the last checkpoint are read."""
    log = tmp_path / "app.log"
    _append(log, [f"first {i}" for i in range(50)])
    config = _config(str(log), start_at="beginning")
    first = RecordingContext(tmp_path / "state.cbor")
    async with tailing(first, config):
        await _wait_bodies(first, 50)
        await _wait_checkpoint(first, log, len("".join(f"first {i}\n" for i in range(50))))
    _append(log, [f"while down {i}" for i in range(20)])
    os.rename(log, tmp_path / "app.log.renamed")  # rotated while the agent was down: matched by fingerprint
    second = RecordingContext(tmp_path / "state.cbor")
    async with tailing(second, _config(str(tmp_path / "app.log*"), start_at="beginning")):
        assert await _wait_bodies(second, 20) == [f"while down {i}" for i in range(20)]


async def test_abrupt_stops_lose_nothing_and_duplicate_only_uncommitted(tmp_path: Path) -> None:
    """Cancelled at arbitrary moments while writing: every line arrives; duplicates only from uncommitted reads."""
    log = tmp_path / "app.log"
    log.touch()
    config = _config(str(log), start_at="beginning", read_chunk=ByteSize(4096))
    seen: list[str] = []
    written = 0
    for stop_after in (0.05, 0.11, 0.02, 0.07):
        ctx = RecordingContext(tmp_path / "state.cbor")
        async with trio.open_nursery() as nursery:
            await nursery.start(FileLog(config).run, ctx)
            for _ in range(5):
                _append(log, [f"line {written + i}" for i in range(300)])
                written += 300
                await trio.sleep(stop_after / 5)
            nursery.cancel_scope.cancel()  # "crash": no orderly shutdown of the plugin
        seen += ctx.log_bodies()
    ctx = RecordingContext(tmp_path / "state.cbor")
    async with tailing(ctx, config):
        with trio.fail_after(10):
            while len(set(seen + ctx.log_bodies())) < written:
                await trio.sleep(0.02)
    seen += ctx.log_bodies()
    assert set(seen) == {f"line {i}" for i in range(written)}
    # each stop can replay at most what was read but not yet checkpointed (channel depth + 1 chunks)
    assert len(seen) - written <= 4 * 3 * (4096 // len("line 0000\n") + 1)


async def test_binary_garbage_and_megabyte_lines(tmp_path: Path, ctx: RecordingContext) -> None:
    """Binary garbage is forwarded as replaced text and 1 MB lines truncated; both counted; lines after survive."""
    log = tmp_path / "app.log"
    log.touch()
    async with tailing(ctx, _config(str(log), max_line_size=ByteSize(1024))):
        with log.open("ab") as f:
            f.write(
                b"good 1\n"
                + bytes(b for b in range(256) if b != 10) * 4
                + b"\n"
                + b"y" * (1 << 20)
                + b"\ngood 2\n"
            )
        bodies = await _wait_bodies(ctx, 4)
    assert bodies[0] == "good 1" and bodies[-1] == "good 2"
    assert bodies[2] == "y" * 1024
    assert "\ufffd" in bodies[1]
    assert ctx.events["invalid_utf8"] >= 1 and ctx.events["lines_truncated"] == 1


async def test_json_parser_sets_severity_time_and_attributes(tmp_path: Path, ctx: RecordingContext) -> None:
    """parser=json fills body, severity, timestamp and attributes; unparsable lines keep raw text, counted."""
    log = tmp_path / "app.log"
    log.touch()
    async with tailing(ctx, _config(str(log), parser="json")):
        _append(log, ['{"time": 1700000000, "level": "error", "message": "boom", "code": 7}', "not json"])
        await _wait_bodies(ctx, 2)
    records = ctx.decoded(Signal.LOGS)[0].resource_logs[0].scope_logs[0].log_records
    assert (records[0].body.string_value, records[0].severity_number, records[0].severity_text) == (
        "boom",
        17,
        "error",
    )
    assert records[0].time_unix_nano == 1_700_000_000 * 10**9
    assert {kv.key for kv in records[0].attributes} == {"log.file.name", "code"}
    assert records[1].body.string_value == "not json" and ctx.events["parse_errors"] == 1


async def test_multiline_with_flush(tmp_path: Path, ctx: RecordingContext) -> None:
    """Multiline records are joined, and the last one is emitted after force_flush_period."""
    log = tmp_path / "app.log"
    log.touch()
    async with tailing(ctx, _config(str(log), multiline_start=r"^\S")):
        _append(log, ["Traceback:", "  frame 1", "  frame 2", "Next event"])
        assert await _wait_bodies(ctx, 2) == ["Traceback:\n  frame 1\n  frame 2", "Next event"]


async def test_buffer_full_is_retried_not_dropped(tmp_path: Path, ctx: RecordingContext) -> None:
    """While the buffer refuses (BufferFullError), lines wait; once it accepts, all arrive."""
    log = tmp_path / "app.log"
    log.touch()
    ctx.refuse_with = BufferFullError("full", retry_after=0.05)
    async with tailing(ctx, _config(str(log))):
        _append(log, [f"l{i}" for i in range(10)])
        await trio.sleep(0.3)
        assert not ctx.fragments and ctx.events["buffer_full_waits"] >= 1
        ctx.refuse_with = None
        assert await _wait_bodies(ctx, 10) == [f"l{i}" for i in range(10)]


async def test_unreadable_file_is_reported_not_fatal(tmp_path: Path, ctx: RecordingContext) -> None:
    """A matched path that cannot be opened (a dangling symlink) is counted and logged once; others flow."""
    (tmp_path / "dangling.log").symlink_to(tmp_path / "gone")
    async with tailing(ctx, _config(str(tmp_path / "*.log"))):
        _append(tmp_path / "ok.log", ["fine"])
        assert await _wait_bodies(ctx, 1) == ["fine"]
    assert ctx.events["file_errors"] == 1


def test_config_errors_are_precise() -> None:
    """Relative globs, a regex parser without groups and an empty include list are refused with the reason."""
    with pytest.raises(ValueError, match="absolute"):
        _check_include(("logs/*.log",))
    with pytest.raises(ValueError, match="at least one"):
        _check_include(())
    with pytest.raises(ValueError, match="named groups"):
        _check_parse_regex(r"\w+")
    with pytest.raises(ValueError, match="needs regex"):
        FileLogConfig(include=("/x",), parser="regex")


async def test_checkpoints_advance_during_a_long_catch_up(tmp_path: Path) -> None:
    """While a big file is read continuously, the saved offset advances (not only at the end)."""
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(b"line %08d of a big backlog file\n" % i for i in range(300_000)))
    ctx = RecordingContext(tmp_path / "state.cbor")
    ctx.commit_delay = 0.02  # a slow disk buffer: the reader stays ahead, the channel stays full
    config = _config(str(log), start_at="beginning", read_chunk=ByteSize(64 * 1024))
    size = log.stat().st_size
    async with tailing(ctx, config):
        with trio.fail_after(20):
            while True:
                offsets = [e["offset"] for e in ctx.state.get("files", [])]
                if offsets and 0 < offsets[0] < size:
                    break
                await trio.sleep(0.05)
