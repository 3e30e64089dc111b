"""The simulated uplink and upstream collector, in virtual time.

:class:`SimLink` is a :data:`~edge_agent.export.exporter.Connector`: the
real exporter connects through it. While the trace says the link is down a
connect fails after half a round trip (``ENETUNREACH``, what a modem
without a carrier reports). Otherwise the exporter gets an in-memory stream
to :class:`SimUpstream`, wrapped in a :class:`LinkStream` that

* charges every byte sent to the link's bandwidth (virtual sleeps, in
  16 KiB chunks, so an outage can cut a transfer in the middle),
* breaks the transfer when the link goes down, or with probability
  ``loss`` per transfer (after half of its bytes: they were still paid for),
* delays each request and its response by half a round trip each, and
  loses the response if the link is down by then (the upstream got the data, the agent does not know: it
  will send it again, at-least-once).

:class:`SimUpstream` answers every valid request with 200 and measures what
a collector would see: records per priority (the ``sim.priority``
attribute), duplicates, and the delay from collection (the record's
timestamp) to arrival. A folded gauge (``<name>.downsampled`` summary)
stands for ``count`` raw points, so delivery is reported in raw-point
equivalents. The CPU time it spends decoding is measured, so it can be
taken out of the agent's CPU figure.
"""

from __future__ import annotations

import errno
import gzip
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

from edge_agent.adaptive.downsample import DOWNSAMPLED_SUFFIX
from edge_agent.export.http import Endpoint
from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits
from edge_agent.otlp.fragment import Signal
from edge_agent.simulation.links import LinkTrace

_CHUNK = 16 * 1024


@dataclass
class LinkCounters:
    connects: int = 0
    refused_connects: list[float] = field(default_factory=list)  # times of connects while down
    bytes_sent: int = 0  # request bytes that crossed the link (including cut transfers)
    transfers_cut: int = 0
    responses_lost: int = 0


class SimLink:
    def __init__(self, trace: LinkTrace, *, upstream: SimUpstream, start: float, seed: int) -> None:
        self.trace = trace
        self.upstream = upstream
        self.start = start
        self.rng = random.Random(seed)
        self.counters = LinkCounters()
        self.forced_up = False  # the drain phase at the end keeps the link up
        self.nursery: trio.Nursery | None = None
        self._server = HttpServer(upstream.handle, ServerLimits(max_body_bytes=64 << 20), name="sim-upstream")

    def now(self) -> float:
        return trio.current_time() - self.start

    def is_up(self) -> bool:
        return self.forced_up or self.trace.is_up(self.now())

    async def connect(self, endpoint: Endpoint) -> trio.abc.Stream:
        state = self.trace.at(self.now())
        await trio.sleep(state.rtt / 2)
        self.counters.connects += 1
        if not self.is_up():
            self.counters.refused_connects.append(self.now())
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        client, server = trio.testing.memory_stream_pair()
        assert self.nursery is not None
        self.nursery.start_soon(self._server.serve_stream, server)
        return LinkStream(client, self)


class LinkStream(trio.abc.Stream):
    """The client end of a connection across the simulated link."""

    def __init__(self, inner: trio.abc.Stream, link: SimLink) -> None:
        self.inner = inner
        self.link = link
        self._in_request = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        link = self.link
        doomed = not link.forced_up and link.rng.random() < link.trace.config.loss
        cut_at = len(data) // 2 if doomed else len(data)
        view = memoryview(data)
        sent = 0
        if not self._in_request:  # the first bytes of a request travel half a round trip
            self._in_request = True
            await trio.sleep(link.trace.at(link.now()).rtt / 2)
        while True:
            if not link.is_up() or (doomed and sent >= cut_at):
                link.counters.transfers_cut += 1
                await self.inner.aclose()
                raise trio.BrokenResourceError("the link went down mid-transfer")
            if sent >= len(view):
                break
            chunk = view[sent : min(sent + _CHUNK, cut_at if doomed else len(view))]
            bandwidth = link.trace.at(link.now()).bandwidth
            if bandwidth and not link.forced_up:
                await trio.sleep(len(chunk) / bandwidth)
            link.counters.bytes_sent += len(chunk)
            await self.inner.send_all(chunk)
            sent += len(chunk)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._in_request:  # the response travels the other half
            self._in_request = False
            await trio.sleep(self.link.trace.at(self.link.now()).rtt / 2)
            if not self.link.is_up():
                self.link.counters.responses_lost += 1
                await self.inner.aclose()
                raise trio.BrokenResourceError("the link went down before the response arrived")
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.aclose()

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class PriorityTally:
    records: int = 0  # records that arrived with a collection time (summaries excluded)
    represented: int = 0  # raw points they stand for
    duplicates: int = 0
    delays: list[tuple[float, float]] = field(default_factory=list)  # (collected at, delay), seconds


class SimUpstream:
    """The collector at the far end: 200 for every valid request, and the bookkeeping."""

    def __init__(self, wall_ns: Callable[[], int], start_wall_ns: int) -> None:
        self._wall_ns = wall_ns
        self.start_wall_ns = start_wall_ns
        self.tallies: dict[str, PriorityTally] = {}
        self.requests = 0
        self.arrivals: list[float] = []  # wall seconds since the start, of every answered request
        self.cpu_seconds = 0.0  # spent here decoding and counting (not agent work)
        self._seen: set[int] = set()

    async def handle(self, request: Request) -> Reply:
        started = time.process_time()
        try:
            body = request.body
            if request.header("content-encoding") == "gzip":
                body = gzip.decompress(body)
            elif request.header("content-encoding") == "zstd":
                import zstandard

                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            signal = Signal(request.path.rsplit("/", 1)[-1])
            self._count(signal, body)
            self.requests += 1
            self.arrivals.append((self._wall_ns() - self.start_wall_ns) / 1e9)
        finally:
            self.cpu_seconds += time.process_time() - started
        return Reply(200, b"", content_type="application/x-protobuf")

    def tally(self, priority: str) -> PriorityTally:
        found = self.tallies.get(priority)
        if found is None:
            found = self.tallies[priority] = PriorityTally()
        return found

    def _record(self, priority: str, key: Any, time_ns: int, *, represents: int = 1) -> None:
        tally = self.tally(priority)
        digest = hash(key)
        if digest in self._seen:
            tally.duplicates += 1
            return
        self._seen.add(digest)
        tally.represented += represents
        if time_ns:
            tally.records += 1
            now = self._wall_ns()
            tally.delays.append(((time_ns - self.start_wall_ns) / 1e9, (now - time_ns) / 1e9))

    def _count(self, signal: Signal, body: bytes) -> None:
        from edge_agent.testing import decode_request

        message = decode_request(signal, body)  # a fresh message per request
        if signal is Signal.METRICS:
            for rm in message.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        self._metric(metric)
        elif signal is Signal.LOGS:
            for rl in message.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        attrs = {kv.key: kv.value.string_value for kv in record.attributes}
                        priority = attrs.get("sim.priority", "other")
                        key = ("log", priority, record.body.string_value, record.observed_time_unix_nano)
                        self._record(priority, key, record.observed_time_unix_nano)

    def _metric(self, metric: Any) -> None:
        kind = metric.WhichOneof("data")
        if kind not in ("gauge", "sum", "summary", "histogram"):
            return
        for point in getattr(metric, kind).data_points:
            attrs = {kv.key: kv.value.string_value for kv in point.attributes}
            priority = attrs.get("sim.priority", "self" if metric.name.startswith("edge_agent.") else "other")
            key = (metric.name, tuple(sorted(attrs.items())), point.time_unix_nano)
            if kind == "summary" and metric.name.endswith(DOWNSAMPLED_SUFFIX):
                # stands for `count` raw points, one of which arrived as the window's last value
                self._record(priority, key, 0, represents=max(0, point.count - 1))
            else:
                self._record(priority, key, point.time_unix_nano)
