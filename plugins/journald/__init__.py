"""Follow the systemd journal through ``journalctl --output=json --follow``.

Theory of operation: the plugin runs journalctl as a child process (the
journal's own reader, so no libsystemd binding is needed) and reads its
JSON lines. Entries are batched (``batch_size`` or ``flush_interval``,
whichever comes first), emitted with ``durable=True``, and only then is the
batch's last ``__CURSOR`` written to the state store; a restart passes it
back as ``--after-cursor``, so nothing committed is read twice and nothing
is skipped (at-least-once). Without a cursor, ``start_at`` decides:
``end`` (``--lines=0``) or ``beginning``.

Where journalctl is not installed the plugin logs one clear line and stays
idle (counted as ``journalctl_missing``). If journalctl exits (bad filter,
unreadable journal), the plugin fails with its stderr and the supervisor
restarts it with backoff.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

import trio

from edge_agent import BufferFullError, Duration, LogsBuilder, PluginContext, PluginError, Receiver, setting

from .convert import EntryError, parse_entry

__all__ = ["JournaldConfig", "JournaldReceiver"]

_MAX_LINE = 1 << 20  # journald caps entries far below this; a longer line is not an entry


def _check_priority(value: str) -> None:
    names = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
    for part in value.split(".."):
        if part and part not in names and not (part.isdigit() and int(part) <= 7):
            raise ValueError(
                f"expected a syslog priority (0-7 or {', '.join(names)}) or a range a..b, got {value!r}"
            )


@dataclass(frozen=True)
class JournaldConfig:
    units: tuple[str, ...] = setting((), help="only these systemd units (journalctl --unit); empty = all")
    # not "priority": that common key is the buffer priority of every plugin instance
    syslog_priority: str = setting(
        "", help="only up to this syslog priority, e.g. 'warning' or '0..4'", check=_check_priority
    )
    directory: str = setting("", help="read journal files from this directory (journalctl --directory)")
    files: tuple[str, ...] = setting((), help="read these journal files (journalctl --file)")
    start_at: Literal["end", "beginning"] = setting("end", help="where to start without a saved cursor")
    journalctl: str = setting("journalctl", help="the journalctl executable")
    batch_size: int = setting(500, help="entries per fragment at most")
    flush_interval: Duration = setting(Duration(0.5), help="emit a partial batch after this long")


class JournaldReceiver(Receiver[JournaldConfig]):
    """Systemd journal entries as OTLP log records, cursor-checkpointed."""

    name = "journald"
    version = "1.0.0"
    description = "follow the systemd journal (journalctl --output=json --follow), cursor checkpointed"
    config_class = JournaldConfig

    def argv(self, executable: str, cursor: str | None) -> list[str]:
        cfg = self.config
        argv = [executable, "--output=json", "--follow", "--no-pager", "--quiet"]
        argv += [f"--unit={unit}" for unit in cfg.units]
        argv += [f"--priority={cfg.syslog_priority}"] if cfg.syslog_priority else []
        argv += [f"--directory={cfg.directory}"] if cfg.directory else []
        argv += [f"--file={path}" for path in cfg.files]
        if cursor:
            argv.append(f"--after-cursor={cursor}")
        elif cfg.start_at == "end":
            argv.append("--lines=0")
        else:
            argv.append("--no-tail")
        return argv

    async def run(self, ctx: PluginContext, *, task_status: trio.TaskStatus[None]) -> None:
        executable = shutil.which(self.config.journalctl)
        if executable is None:
            ctx.count("journalctl_missing")
            ctx.logger.warning(
                "journalctl (%r) not found: the journald plugin stays idle; "
                "install systemd or disable the plugin",
                self.config.journalctl,
            )
            task_status.started()
            await trio.sleep_forever()
        cursor = ctx.state.get("cursor")
        argv = self.argv(executable, cursor if isinstance(cursor, str) else None)
        proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            task_status.started()
            await self._follow(ctx, proc)
        finally:
            if proc.returncode is None:
                proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()

    async def _follow(self, ctx: PluginContext, proc: trio.Process) -> None:
        assert proc.stdout is not None
        pending = b""
        batch: list[bytes] = []
        deadline = float("inf")
        while True:
            with trio.move_on_at(deadline):
                chunk = await proc.stdout.receive_some(65536)
                if not chunk:
                    await self._flush(ctx, batch)
                    await self._exited(proc)
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                if len(pending) > _MAX_LINE:
                    ctx.count("malformed_entries")
                    pending = b""
                batch += [line for line in lines if line]
                if batch and deadline == float("inf"):
                    deadline = trio.current_time() + float(self.config.flush_interval)
            if len(batch) >= self.config.batch_size or (batch and trio.current_time() >= deadline):
                await self._flush(ctx, batch)
                batch = []
                deadline = float("inf")

    async def _flush(self, ctx: PluginContext, lines: list[bytes]) -> None:
        builder = ctx.logs()
        observed = ctx.clock.time_ns()
        cursor = None
        for line in lines:
            try:
                entry = parse_entry(line)
            except EntryError as exc:
                ctx.count("malformed_entries")
                ctx.logger.debug("skipping journalctl output line: %s", exc)
                continue
            builder.record(
                entry.body,
                time_ns=entry.time_ns,
                observed_time_ns=observed,
                severity=entry.severity,
                severity_text=entry.severity_text,
                attributes=entry.attributes,
            )
            cursor = entry.cursor
        if not builder.is_empty():
            await self._emit(ctx, builder)
        if cursor is not None:
            await ctx.state.put("cursor", cursor)

    async def _emit(self, ctx: PluginContext, builder: LogsBuilder) -> None:
        fragment = builder.build()
        while True:
            try:
                await ctx.emit(fragment, durable=True)
                return
            except BufferFullError as exc:
                ctx.count("buffer_full_waits")
                await trio.sleep(max(exc.retry_after, 0.1))

    async def _exited(self, proc: trio.Process) -> None:
        assert proc.stderr is not None
        await proc.wait()
        err = await proc.stderr.receive_some(4096)
        detail = err.decode("utf-8", "replace").strip() or "(no message)"
        raise PluginError(f"journalctl exited with status {proc.returncode}: {detail}")
