"""Tail log files by glob and forward each line (or multiline record) as an OTLP log record.

Theory of operation: two tasks joined by a small channel.

* The **reader** scans the globs (:class:`~.tracker.Tracker`: identity
  across rotation, truncation, checkpoints), then reads each file in
  ``read_chunk`` steps in a worker thread: ``pread`` -> frame into records
  (:mod:`.lines`) -> encode straight to OTLP bytes (``LogsBuilder.lines``, or
  per record when a parser is set). Each step yields a fragment and a
  snapshot of every file's committed offset.
* The **committer** emits each fragment with ``durable=True`` and only then
  writes the offsets to the state store (coalesced while steps are queued,
  but at least once a second). A crash loses nothing committed and re-sends
  at most what was committed since the last checkpoint write plus the
  fragments in flight (at-least-once).

Backpressure: when the buffer is slow the channel fills and the reader
waits; when it refuses (``BufferFullError``) the committer retries after the
buffer's Retry-After, so nothing read is ever dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import trio

from edge_agent import AttributeValue, BufferFullError, Fragment, PluginContext, Receiver

from .config import FileLogConfig
from .lines import Framer
from .parse import RecordParser
from .tracker import TrackedFile, Tracker

__all__ = ["FileLog", "FileLogConfig"]

_CHANNEL_DEPTH = 2  # fragments read ahead of the commit: bounds memory and the at-least-once replay
_CHECKPOINT_EVERY = 1.0  # seconds: the longest a busy file goes without a checkpoint write


@dataclass(frozen=True)
class _Step:
    fragment: Fragment | None
    checkpoint: list[dict[str, Any]]


@dataclass
class _Read:
    fragment: Fragment | None
    moved: bool  # the committed offset changed
    more: bool  # a full chunk was read: there is probably more
    truncated: int = 0
    invalid_utf8: int = 0
    parse_errors: int = 0


class FileLog(Receiver[FileLogConfig]):
    """Tails files matched by globs; survives rotation, truncation and restarts."""

    name = "filelog"
    version = "1.0.0"
    description = "tail log files (rotation-safe, checkpointed, multiline, json/regex parsing)"
    config_class = FileLogConfig

    def __init__(self, config: FileLogConfig) -> None:
        super().__init__(config)
        self._framer = Framer(
            max_line=int(config.max_line_size),
            encoding=config.encoding,
            multiline_start=config.multiline_start,
        )
        self._parser = (
            RecordParser(
                config.parser,
                regex=config.regex,
                body_field=config.body_field,
                severity_field=config.severity_field,
                timestamp_field=config.timestamp_field,
                timestamp_format=config.timestamp_format,
            )
            if config.parser != "none"
            else None
        )
        self._errors_logged: set[str] = set()

    async def run(self, ctx: PluginContext, *, task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        tracker = Tracker(
            cfg.include,
            cfg.exclude,
            fingerprint_size=int(cfg.fingerprint_size),
            start_at=cfg.start_at,
            checkpoints=list(ctx.state.get("files", []) or []),
            attributes=self._file_attributes,
        )
        send, receive = trio.open_memory_channel[_Step](_CHANNEL_DEPTH)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._commit_loop, ctx, receive)
                await self._scan(ctx, tracker)
                task_status.started()
                await self._read_loop(ctx, tracker, send)
        finally:
            tracker.close_all()

    def _file_attributes(self, path: str) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {}
        if self.config.include_file_name:
            attributes["log.file.name"] = os.path.basename(path)
        if self.config.include_file_path:
            attributes["log.file.path"] = path
        return attributes

    # -- reader --------------------------------------------------------------

    async def _read_loop(
        self, ctx: PluginContext, tracker: Tracker, send: trio.MemorySendChannel[_Step]
    ) -> None:
        next_scan = trio.current_time() + float(self.config.poll_interval)
        while True:
            busy = False
            for tracked in list(tracker.files.values()):
                busy |= await self._read_file(ctx, tracker, tracked, send)
            if trio.current_time() >= next_scan or not busy:
                if not busy:
                    await trio.sleep_until(next_scan)
                await self._scan(ctx, tracker)
                next_scan = trio.current_time() + float(self.config.poll_interval)

    async def _scan(self, ctx: PluginContext, tracker: Tracker) -> None:
        result = await trio.to_thread.run_sync(tracker.scan)
        for path in result.opened:
            ctx.logger.info("tailing %s", path)
        for path in result.truncated:
            ctx.count("files_truncated")
            ctx.logger.info("%s was truncated (copytruncate rotation?); reading it from the start", path)
        for error in result.errors:
            if error not in self._errors_logged:  # once per distinct problem, not every poll
                if len(self._errors_logged) >= 1000:
                    self._errors_logged.clear()  # bounded: churning paths must not grow memory
                self._errors_logged.add(error)
                ctx.count("file_errors")
                ctx.logger.warning("cannot read %s; will retry", error)

    async def _read_file(
        self, ctx: PluginContext, tracker: Tracker, tracked: TrackedFile, send: trio.MemorySendChannel[_Step]
    ) -> bool:
        now = trio.current_time()
        try:
            read = await trio.to_thread.run_sync(self._read_step, ctx, tracker, tracked, now)
        except OSError as exc:
            ctx.count("file_errors")
            ctx.logger.warning("reading %s failed: %s; closing it", tracked.path, exc.strerror or exc)
            tracker.forget(tracked)
            return False
        ctx.count("lines_truncated", read.truncated)
        ctx.count("invalid_utf8", read.invalid_utf8)
        ctx.count("parse_errors", read.parse_errors)
        if read.fragment is not None or read.moved:
            await send.send(_Step(read.fragment, tracker.checkpoint_state()))
        if not read.more and not tracked.seen and not tracked.cursor.pending:
            ctx.logger.info("finished %s (rotated away or deleted)", tracked.path)
            tracker.forget(tracked)
            await send.send(_Step(None, tracker.checkpoint_state()))
        return read.more

    def _read_step(self, ctx: PluginContext, tracker: Tracker, tracked: TrackedFile, now: float) -> _Read:
        """One chunk of one file -> framed records -> an encoded fragment (blocking, in a worker thread)."""
        cursor = tracked.cursor
        before = cursor.committed
        chunk = int(self.config.read_chunk)
        data = os.pread(tracked.fd, chunk, cursor.offset)
        if data:
            tracked.last_data = now
        flush = (
            not data
            and bool(cursor.pending)
            and now - tracked.last_data >= float(self.config.force_flush_period)
        )
        if not data and not flush:
            return _Read(None, False, False)
        framed = self._framer.frame(cursor, data, flush=flush)
        tracker.grow_fingerprint(tracked)
        fragment, parse_errors = self._encode(ctx, framed.records, tracked)
        return _Read(
            fragment,
            cursor.committed != before,
            len(data) == chunk,
            framed.truncated,
            framed.invalid_utf8,
            parse_errors,
        )

    def _encode(
        self, ctx: PluginContext, records: list[bytes], tracked: TrackedFile
    ) -> tuple[Fragment | None, int]:
        if not records:
            return None, 0
        builder = ctx.logs()
        observed = ctx.clock.time_ns()
        if self._parser is None:
            builder.lines(records, observed_time_ns=observed, attributes=tracked.attributes)
            return builder.build(), 0
        errors = 0
        for record in records:
            text = record.decode("utf-8")
            parsed = self._parser.parse(text)
            if parsed is None:
                errors += 1
                builder.record(text, observed_time_ns=observed, attributes=tracked.attributes)
                continue
            attributes = (
                {**tracked.attributes, **parsed.attributes} if parsed.attributes else tracked.attributes
            )
            builder.record(
                parsed.body,
                time_ns=parsed.time_ns,
                observed_time_ns=observed,
                severity=parsed.severity,
                severity_text=parsed.severity_text,
                attributes=attributes,
            )
        return builder.build(), errors

    # -- committer -----------------------------------------------------------

    async def _commit_loop(self, ctx: PluginContext, receive: trio.MemoryReceiveChannel[_Step]) -> None:
        saved: list[dict[str, Any]] | None = None
        saved_at = trio.current_time()
        async for step in receive:
            if step.fragment is not None:
                await self._emit(ctx, step.fragment)
            # Coalesce checkpoints while more steps are queued (one state write per burst), but
            # write at least every _CHECKPOINT_EVERY seconds: a long catch-up must not leave the
            # checkpoint at the start of the file.
            idle = receive.statistics().current_buffer_used == 0
            due = trio.current_time() - saved_at >= _CHECKPOINT_EVERY
            if step.checkpoint != saved and (idle or due):
                await ctx.state.put("files", step.checkpoint)
                saved, saved_at = step.checkpoint, trio.current_time()

    async def _emit(self, ctx: PluginContext, fragment: Fragment) -> None:
        while True:
            try:
                await ctx.emit(fragment, durable=True)
                return
            except BufferFullError as exc:
                ctx.count("buffer_full_waits")
                ctx.logger.debug("buffer full; retrying in %.1fs", exc.retry_after)
                await trio.sleep(max(exc.retry_after, 0.1))
