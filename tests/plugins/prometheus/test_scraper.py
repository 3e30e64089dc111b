"""The prometheus scraper against real HTTP targets: prometheus-client's server, a hanging one, HTML, 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from prometheus_client import start_http_server

from edge_agent import Duration, HttpServer, Reply, Request
from edge_agent.testing import RecordingContext
from edge_agent_plugins.prometheus import PrometheusConfig, PrometheusScraper
from tests.e2e.plugin_peers import free_port
from tests.plugins.prometheus.test_textparse import registry


@pytest.fixture
def client_port() -> Iterator[int]:
    """prometheus-client's own HTTP exposition server (a thread), serving the shared test registry."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry())
    yield port
    server.shutdown()
    server.server_close()
    thread.join()


async def _html(request: Request) -> Reply:
    return Reply(200, b"<html><body>login</body></html>", content_type="text/html")


async def _hang(listener: trio.SocketListener) -> None:
    held = []
    try:
        while True:
            held.append(await listener.accept())  # accept and never answer
    finally:
        for stream in held:
            await trio.aclose_forcefully(stream)


def _metrics(ctx: RecordingContext) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for message in ctx.decoded_metrics():
        for metric in message.resource_metrics[0].scope_metrics[0].metrics:
            out.setdefault(metric.name, []).extend(getattr(metric, metric.WhichOneof("data")).data_points)
    return out


def _up(points: list[object]) -> dict[str, int]:
    return {
        next(kv.value.string_value for kv in p.attributes if kv.key == "instance"): p.as_int  # type: ignore[attr-defined]
        for p in points
    }


async def test_good_and_bad_targets(tmp_path: Path, client_port: int) -> None:
    """Each bad target (hang, HTML, 404, refused) is up=0 and counted; the good one is scraped in full."""
    ctx = RecordingContext(tmp_path / "s.cbor", name="prom")
    hang_listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    async with hang_listener, trio.open_nursery() as nursery:
        html = await nursery.start(HttpServer(_html).serve_tcp, "127.0.0.1", 0)
        nursery.start_soon(_hang, hang_listener)
        hang_port = hang_listener.socket.getsockname()[1]
        refused = free_port()
        targets = (
            f"http://127.0.0.1:{client_port}/metrics",
            f"http://127.0.0.1:{html[1]}/metrics",
            f"http://127.0.0.1:{hang_port}/metrics",
            f"http://127.0.0.1:{html[1]}/missing",
            f"http://127.0.0.1:{refused}/metrics",
        )
        scraper = PrometheusScraper(PrometheusConfig(targets=targets, scrape_timeout=Duration(0.5)))
        with trio.fail_after(5):
            fragments = await scraper.scrape(ctx)
        nursery.cancel_scope.cancel()
    for fragment in fragments:
        await ctx.emit(fragment)
    metrics = _metrics(ctx)
    up = _up(metrics["up"])
    assert up == {
        f"127.0.0.1:{client_port}": 1,
        f"127.0.0.1:{html[1]}": 0,
        f"127.0.0.1:{hang_port}": 0,
        f"127.0.0.1:{refused}": 0,
    }
    assert ctx.events["scrape_errors"] == 4
    # prometheus-client answers our Accept header with OpenMetrics: the counter family is http_requests
    assert {p.as_int for p in metrics["http_requests"]} == {1, 3}  # type: ignore[attr-defined]
    assert "latency_seconds" in metrics and "payload_bytes" in metrics


def test_config_refuses_non_http_targets() -> None:
    """Targets must be http:// URLs; the error shows an example."""
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1:9100/metrics"):
        PrometheusConfig(targets=("ftp://x/metrics",))
