"""StatsD / DogStatsD listener: UDP and/or unix datagram socket, aggregated per flush interval.

Theory of operation: one task per socket receives datagrams and folds every
line into the :class:`~.aggregate.Aggregator` (sans-IO); a flush task turns
the aggregate into one metrics fragment every ``flush_interval``. Parsing is
per line and cheap; a malformed line is counted (``malformed_lines``) and
logged at most once per flush interval, never fatal. Samples refused by the
series bounds are counted as ``series_limit``.
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass
from typing import Literal

import trio

from edge_agent import (
    Duration,
    PluginContext,
    Receiver,
    Temporality,
    check_listener_exposure,
    setting,
)

from .aggregate import Aggregator
from .parse import StatsdParseError, parse_line

__all__ = ["StatsdConfig", "StatsdReceiver"]

DEFAULT_BOUNDS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)


def _check_endpoint(value: str) -> None:
    if value:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port such as 127.0.0.1:8125 (or empty), got {value!r}")


def _check_bounds(value: tuple[float, ...]) -> None:
    if not value or list(value) != sorted(set(value)):
        raise ValueError("histogram_bounds must be a non-empty, strictly increasing list")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class StatsdConfig:
    endpoint: str = setting("127.0.0.1:8125", help="UDP host:port; empty disables UDP", check=_check_endpoint)
    unix_socket: str = setting("", help="also listen on this unix datagram socket path")
    flush_interval: Duration = setting(Duration(10.0), help="aggregation window", check=_check_positive)
    temporality: Literal["delta", "cumulative"] = setting(
        "delta", help="counters and histograms: per interval (delta) or running totals (cumulative)"
    )
    histogram_bounds: tuple[float, ...] = setting(
        DEFAULT_BOUNDS, help="bucket bounds for timers and histograms (ms for timers)", check=_check_bounds
    )
    max_series: int = setting(10_000, help="distinct series per interval; more are refused and counted")
    max_set_members: int = setting(10_000, help="distinct members per set per interval")
    max_datagram: int = setting(65_535, help="largest datagram read (bytes)")
    insecure_listen_on_network: bool = setting(
        False,
        help="allow a non-loopback endpoint (StatsD cannot authenticate: anyone reaching it may send)",
    )

    def __post_init__(self) -> None:
        if not self.endpoint and not self.unix_socket:
            raise ValueError("set endpoint or unix_socket (or both)")
        if self.endpoint:
            check_listener_exposure(
                self.endpoint.rpartition(":")[0],
                authenticated=self.insecure_listen_on_network,
                what="the StatsD receiver (UDP, no authentication)",
                remedy="insecure_listen_on_network = true to accept that anyone there can send metrics",
            )


class StatsdReceiver(Receiver[StatsdConfig]):
    """Aggregates StatsD/DogStatsD metrics into OTLP sums, gauges and histograms."""

    name = "statsd"
    version = "1.0.0"
    description = "StatsD/DogStatsD over UDP or a unix datagram socket, aggregated per flush interval"
    config_class = StatsdConfig

    def __init__(self, config: StatsdConfig) -> None:
        super().__init__(config)
        temporality = Temporality.DELTA if config.temporality == "delta" else Temporality.CUMULATIVE
        self.aggregator = Aggregator(
            config.histogram_bounds, temporality, config.max_series, config.max_set_members
        )
        self._malformed_logged = False
        self.bound: tuple[str, int] | None = None

    async def run(self, ctx: PluginContext, *, task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        sockets = []
        try:
            if cfg.endpoint:
                host, _, port = cfg.endpoint.rpartition(":")
                family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
                udp = trio.socket.socket(family, socket.SOCK_DGRAM)
                sockets.append(udp)
                await udp.bind((host.strip("[]"), int(port)))
                self.bound = udp.getsockname()[:2]
            if cfg.unix_socket:
                await trio.to_thread.run_sync(_remove_stale_socket, cfg.unix_socket)
                unix = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sockets.append(unix)
                await unix.bind(cfg.unix_socket)
            async with trio.open_nursery() as nursery:
                for sock in sockets:
                    nursery.start_soon(self._receive, ctx, sock)
                nursery.start_soon(self._flush_loop, ctx)
                where = [f"udp {self.bound[0]}:{self.bound[1]}"] if self.bound else []
                where += [f"unix {cfg.unix_socket}"] if cfg.unix_socket else []
                ctx.logger.info("StatsD listening on %s", ", ".join(where))
                task_status.started()
        finally:
            for sock in sockets:
                sock.close()

    async def _receive(self, ctx: PluginContext, sock: trio.socket.SocketType) -> None:
        while True:
            data = await sock.recv(self.config.max_datagram)
            self.ingest(ctx, data)

    def ingest(self, ctx: PluginContext, datagram: bytes) -> None:
        """Parse and aggregate one datagram's lines (counting what is refused)."""
        malformed = refused = 0
        for raw in datagram.split(b"\n"):
            line = raw.strip()
            if not line:
                continue
            try:
                sample = parse_line(line.decode("utf-8"))
            except (StatsdParseError, UnicodeDecodeError) as exc:
                malformed += 1
                if not self._malformed_logged:
                    self._malformed_logged = True
                    ctx.logger.warning("malformed StatsD line %r: %s", line[:100], exc)
                continue
            if not self.aggregator.add(sample):
                refused += 1
        ctx.count("malformed_lines", malformed)
        ctx.count("series_limit", refused)

    async def _flush_loop(self, ctx: PluginContext) -> None:
        interval = float(self.config.flush_interval)
        plugin_start = ctx.clock.time_ns()
        window_start = plugin_start
        while True:
            await trio.sleep(interval)
            now = ctx.clock.time_ns()
            cumulative = self.aggregator.temporality is Temporality.CUMULATIVE
            builder = ctx.metrics(time_ns=now)
            self.aggregator.flush(builder, start_time_ns=plugin_start if cumulative else window_start)
            window_start = now
            self._malformed_logged = False
            if not builder.is_empty():
                await ctx.emit(builder.build())


def _remove_stale_socket(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket; refusing to replace it")
    os.unlink(path)
