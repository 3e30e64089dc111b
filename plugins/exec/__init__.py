"""Run a command on an interval and turn its standard output into OTLP metrics.

The command is an argv list executed directly (no shell), unless
``shell = true`` is set explicitly, in which case ``command`` must be one
string run by ``/bin/sh -c``. Each run is bounded: ``timeout`` (the process
group is killed with SIGKILL), ``max_output`` bytes of stdout (the run is
killed and discarded when exceeded), and stderr is kept only for the error
message. A non-zero exit status, a timeout, oversized or unparsable output
are counted (``command_failed``, ``timeouts``, ``output_too_large``,
``parse_errors``) and logged once per state change; the plugin keeps
running.

Output formats: ``prometheus`` (text exposition), ``json`` (see
:mod:`.jsonfmt`), ``influx`` (line protocol, see :mod:`.influx`).
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Literal

import trio

from edge_agent import ByteSize, Duration, Fragment, MetricsBuilder, PluginContext, Scraper, setting

# the Prometheus text parser is shared with the prometheus plugin (same package, first-party)
from ..prometheus.convert import add_families
from ..prometheus.textparse import ExpositionError
from ..prometheus.textparse import parse as parse_prometheus
from . import influx, jsonfmt

__all__ = ["ExecConfig", "ExecScraper"]

_STDERR_KEEP = 2048


def _check_command(value: tuple[str, ...]) -> None:
    if not value or not value[0]:
        raise ValueError(
            'give the command as an argv list, e.g. command = ["/usr/local/bin/probe", "--json"]'
        )


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class ExecConfig:
    command: tuple[str, ...] = setting((), help="argv list to run (required); no shell", check=_check_command)
    shell: bool = setting(False, help="run command[0] through /bin/sh -c (explicit opt-in)")
    format: Literal["prometheus", "json", "influx"] = setting("prometheus", help="how stdout is parsed")
    timeout: Duration = setting(
        Duration(10.0), help="kill the command after this long", check=_check_positive
    )
    max_output: ByteSize = setting(
        ByteSize(1024 * 1024), help="largest stdout accepted", check=_check_positive
    )
    env: dict[str, str] = setting(default_factory=dict, help="extra environment variables")
    cwd: str = setting("", help="working directory (default: the agent's)")

    def __post_init__(self) -> None:
        _check_command(self.command)
        if self.shell and len(self.command) != 1:
            raise ValueError("with shell = true, command must be a single string (the shell command line)")


class _RunFailed(Exception):
    def __init__(self, event: str, message: str) -> None:
        super().__init__(message)
        self.event = event


class ExecScraper(Scraper[ExecConfig]):
    """Runs a command and parses its output (Prometheus text, JSON or Influx line protocol)."""

    name = "exec"
    version = "1.0.0"
    description = (
        "run a command on an interval; parse stdout as Prometheus text, JSON or Influx line protocol"
    )
    config_class = ExecConfig
    default_interval = 60.0

    def __init__(self, config: ExecConfig) -> None:
        super().__init__(config)
        self._failing = False

    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", self.config.command[0]] if self.config.shell else list(self.config.command)

    async def scrape(self, ctx: PluginContext) -> list[Fragment]:
        try:
            output = await self._run()
            builder = ctx.metrics()
            self._parse(ctx, output, builder)
        except _RunFailed as exc:
            ctx.count(exc.event)
            if not self._failing:
                self._failing = True
                ctx.logger.warning("command %s: %s", self.argv()[0], exc)
            return []
        if self._failing:
            self._failing = False
            ctx.logger.info("command %s works again", self.argv()[0])
        return [builder.build()]

    async def _run(self) -> bytes:
        cfg = self.config
        env = {**os.environ, **cfg.env} if cfg.env else None
        try:
            proc = await trio.lowlevel.open_process(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cfg.cwd or None,
                start_new_session=True,  # its own process group, so a timeout kills its children too
            )
        except OSError as exc:
            raise _RunFailed("command_failed", f"cannot start: {exc.strerror or exc}") from None
        try:
            return await self._collect(proc)
        finally:
            if proc.returncode is None:
                _kill_group(proc)
                with trio.CancelScope(shield=True):
                    await proc.wait()

    async def _collect(self, proc: trio.Process) -> bytes:
        assert proc.stdout is not None
        assert proc.stderr is not None
        limit = int(self.config.max_output)
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        with trio.move_on_after(float(self.config.timeout)) as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, proc.stderr, stderr, _STDERR_KEEP, False)
                await _drain(proc.stdout, stdout, limit, True)
                if sum(map(len, stdout)) > limit:
                    _kill_group(proc)  # it is still writing: stop it instead of waiting
                await proc.wait()
        if scope.cancelled_caught:
            raise _RunFailed("timeouts", f"timed out after {float(self.config.timeout):g}s; killed")
        output = b"".join(stdout)
        if len(output) > limit:
            raise _RunFailed("output_too_large", f"wrote more than max_output ({limit} bytes); killed")
        if proc.returncode != 0:
            detail = b"".join(stderr).decode("utf-8", "replace").strip().splitlines()
            raise _RunFailed(
                "command_failed", f"exited with status {proc.returncode}: {detail[-1] if detail else ''}"
            )
        return output

    def _parse(self, ctx: PluginContext, output: bytes, builder: MetricsBuilder) -> None:
        text = output.decode("utf-8", "replace")
        try:
            if self.config.format == "prometheus":
                stats = add_families(builder, parse_prometheus(text), {})
                ctx.count("points_skipped", stats.skipped)
            elif self.config.format == "json":
                _add_json(builder, jsonfmt.parse(text))
            else:
                points, skipped = influx.parse_lines(text)
                ctx.count("string_fields_skipped", skipped)
                for point in points:
                    builder.gauge(point.name, [(point.tags, point.value)])
        except (ExpositionError, jsonfmt.JsonFormatError, influx.InfluxError) as exc:
            raise _RunFailed("parse_errors", f"output is not valid {self.config.format}: {exc}") from None


def _add_json(builder: MetricsBuilder, metrics: list[jsonfmt.JsonMetric]) -> None:
    for m in metrics:
        points = [(m.attributes, m.value)]
        if m.type == "gauge":
            builder.gauge(m.name, points, unit=m.unit, description=m.description)
        else:
            monotonic = m.type == "counter"
            builder.sum(m.name, points, unit=m.unit, description=m.description, monotonic=monotonic)


async def _drain(stream: trio.abc.ReceiveStream, into: list[bytes], limit: int, strict: bool) -> None:
    """Read ``stream`` to EOF keeping at most ``limit`` bytes; ``strict`` stops once past the limit."""
    kept = 0
    while chunk := await stream.receive_some(65536):
        if kept <= limit:
            into.append(bytes(chunk[: limit + 1 - kept]))
            kept += len(into[-1])
        if strict and kept > limit:
            return  # the caller sees len > limit and the process is killed


def _kill_group(proc: trio.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
