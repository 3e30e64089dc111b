"""The simulated link and upstream: outages, bandwidth, loss, and what the upstream counts."""

from __future__ import annotations

import gzip

import pytest
import trio
import trio.testing

from edge_agent.adaptive.downsample import fold_metrics
from edge_agent.export.http import Endpoint, HttpConnection
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import MetricsBuilder
from edge_agent.simulation.links import LinkConfig, LinkTrace
from edge_agent.simulation.network import SimLink, SimUpstream

ENDPOINT = Endpoint.parse("http://127.0.0.1:4318")
S = 10**9


def setup(config: LinkConfig, seed: int = 0) -> tuple[SimLink, SimUpstream]:
    start = trio.current_time()
    upstream = SimUpstream(lambda: int((trio.current_time() - start) * 1e9) + 1000 * S, 1000 * S)
    return SimLink(LinkTrace(config), upstream=upstream, start=start, seed=seed), upstream


def metrics_body(priority: str, t_s: int, points: int = 3) -> bytes:
    b = MetricsBuilder(attributes.resource({"a": "b"}), attributes.scope("s"), time_ns=t_s * S)
    b.gauge("sim.value", [({"sim.priority": priority, "sim.series": str(i)}, 1.0) for i in range(points)])
    return b.build().payload


async def post(link: SimLink, body: bytes) -> int:
    stream = await link.connect(ENDPOINT)
    conn = HttpConnection(stream)
    try:
        response = await conn.request(
            "POST", "/v1/metrics", host="x", headers=[("Content-Encoding", "gzip")], body=gzip.compress(body)
        )
    finally:
        await conn.aclose()
    return int(response.status)


async def test_down_link_refuses_connects(autojump_clock: trio.testing.MockClock) -> None:
    """While the trace is down a connect fails with 'Network is unreachable' and is recorded."""
    link, _ = setup(LinkConfig(kind="flapping", up=10.0, down=10.0))
    async with trio.open_nursery() as nursery:
        link.nursery = nursery
        await trio.sleep(12)
        with pytest.raises(OSError, match="unreachable"):
            await link.connect(ENDPOINT)
        assert len(link.counters.refused_connects) == 1
        link.forced_up = True
        await link.connect(ENDPOINT)
        nursery.cancel_scope.cancel()


async def test_bandwidth_and_rtt_take_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    """A request over 20 kB/s with 600 ms RTT takes half an RTT to connect, one RTT there and back,
    and its size over the bandwidth."""
    link, upstream = setup(LinkConfig(kind="cellular", bandwidth=20_000, rtt=0.6))
    body = metrics_body("normal", 1000, points=600)
    async with trio.open_nursery() as nursery:
        link.nursery = nursery
        start = trio.current_time()
        assert await post(link, body) == 200
        took = trio.current_time() - start
        nursery.cancel_scope.cancel()
    wire = link.counters.bytes_sent
    assert wire > 1000
    assert took == pytest.approx(0.3 + 0.6 + wire / 20_000, abs=0.01)
    assert upstream.tallies["normal"].represented == 600


async def test_loss_cuts_transfers(autojump_clock: trio.testing.MockClock) -> None:
    """With loss 0.5 about half the requests break in transit; the bytes sent before the cut count."""
    link, upstream = setup(LinkConfig(kind="cellular", loss=0.5), seed=1)
    outcomes = []
    async with trio.open_nursery() as nursery:
        link.nursery = nursery
        for i in range(100):
            try:
                outcomes.append(await post(link, metrics_body("bulk", 1000 + i)))
            except Exception:  # the client's transport error
                outcomes.append(0)
        nursery.cancel_scope.cancel()
    assert 30 < outcomes.count(0) < 70
    assert link.counters.transfers_cut == outcomes.count(0)
    assert upstream.tallies["bulk"].represented == 3 * outcomes.count(200)


async def test_upstream_counts_folded_points_and_duplicates(autojump_clock: trio.testing.MockClock) -> None:
    """A folded window counts as the raw points it stands for; a resent request counts as duplicates."""
    link, upstream = setup(LinkConfig())
    folded = fold_metrics([metrics_body("bulk", 1000 + 10 * i) for i in range(6)])
    async with trio.open_nursery() as nursery:
        link.nursery = nursery
        await post(link, folded.payload)
        await post(link, metrics_body("normal", 1000))
        await post(link, metrics_body("normal", 1000))
        nursery.cancel_scope.cancel()
    bulk, normal = upstream.tallies["bulk"], upstream.tallies["normal"]
    assert (bulk.represented, bulk.records) == (18, 3)
    assert (normal.represented, normal.duplicates) == (3, 3)
    assert upstream.cpu_seconds > 0
