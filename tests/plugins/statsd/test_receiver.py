"""The StatsD receiver over real UDP and unix datagram sockets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import trio

from edge_agent import Duration, Signal
from edge_agent.testing import RecordingContext
from edge_agent_plugins.statsd import StatsdConfig, StatsdReceiver


def _names(ctx: RecordingContext) -> dict[str, object]:
    out = {}
    for message in ctx.decoded(Signal.METRICS):
        for metric in message.resource_metrics[0].scope_metrics[0].metrics:
            out[metric.name] = metric
    return out


async def test_udp_packets_with_garbage_are_aggregated_and_counted(tmp_path: Path) -> None:
    """Valid lines in mixed datagrams are aggregated; garbage lines and binary junk are counted, never fatal."""
    ctx = RecordingContext(tmp_path / "s.cbor", name="statsd")
    receiver = StatsdReceiver(StatsdConfig(endpoint="127.0.0.1:0", flush_interval=Duration(0.2)))
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.run, ctx)
        assert receiver.bound is not None
        client = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with client:
            for datagram in (
                b"hits:1|c\nhits:2|c|@0.5\nnot a metric\n",
                b"\xff\xfe\x00\x01garbage",
                b"temp:20|g|#room:lab\nrt:12|ms\n:::|||\n",
                os.urandom(512).replace(b"\n", b""),
            ):
                await client.sendto(datagram, receiver.bound)
        with trio.fail_after(5):
            await ctx.wait_for(Signal.METRICS, 3)
        nursery.cancel_scope.cancel()
    metrics = _names(ctx)
    assert metrics["hits"].sum.data_points[0].as_int == 5  # type: ignore[attr-defined]
    assert metrics["temp"].gauge.data_points[0].as_int == 20  # type: ignore[attr-defined]
    assert metrics["rt"].histogram.data_points[0].count == 1  # type: ignore[attr-defined]
    assert ctx.events["malformed_lines"] == 4


async def test_unix_datagram_socket(tmp_path: Path) -> None:
    """With only unix_socket set, metrics sent to the datagram socket arrive."""
    path = str(tmp_path / "statsd.sock")
    ctx = RecordingContext(tmp_path / "s.cbor", name="statsd")
    receiver = StatsdReceiver(StatsdConfig(endpoint="", unix_socket=path, flush_interval=Duration(0.1)))
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.run, ctx)
        client = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with client:
            await client.sendto(b"jobs:3|c", path)
        with trio.fail_after(5):
            await ctx.wait_for(Signal.METRICS, 1)
        nursery.cancel_scope.cancel()
    assert _names(ctx)["jobs"].sum.data_points[0].as_int == 3  # type: ignore[attr-defined]
