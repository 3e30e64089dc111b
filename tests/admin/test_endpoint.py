"""/healthz follows the pipeline's liveness: 200 while live, 503 naming the wedged stage."""

from __future__ import annotations

from edge_agent.admin.endpoint import AdminEndpoint
from edge_agent.httpserver import Request
from edge_agent.runtime.liveness import Liveness
from edge_agent.runtime.telemetry import Registry


def _get(path: str) -> Request:
    return Request("GET", path, (), b"")


async def test_healthz_reports_wedged_stage() -> None:
    """A stalled stage turns /healthz into 503 with the reason; progress turns it back to 200."""
    liveness = Liveness(grace=10)
    now = [0.0]

    def health() -> tuple[bool, str]:
        report = liveness.check(now[0])
        return report.live, report.describe()

    endpoint = AdminEndpoint(Registry(), dict, lambda: (True, "ready"), health)
    liveness.expect("exporter", 0, 5, "export request")
    reply = await endpoint.handle(_get("/healthz"))
    assert (reply.status, reply.body) == (200, b"ok\n")
    now[0] = 20
    reply = await endpoint.handle(_get("/healthz"))
    assert reply.status == 503
    assert reply.body == b"wedged: exporter (export request) made no progress for 15s past its deadline\n"
    liveness.expect("exporter", 20, 5)
    assert (await endpoint.handle(_get("/healthz"))).status == 200


async def test_healthz_without_liveness_is_ok() -> None:
    """Endpoints built without a health check answer 200 (process is up)."""
    endpoint = AdminEndpoint(Registry(), dict, lambda: (True, "ready"))
    assert (await endpoint.handle(_get("/healthz"))).status == 200
