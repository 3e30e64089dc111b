"""Routes of the local admin endpoint: /healthz, /readyz, /metrics, /status.

* ``/healthz`` -- liveness: 200 while every pipeline stage makes the progress
  it promised, 503 naming the wedged stage otherwise (the same check gates
  the systemd watchdog pings).
* ``/readyz`` -- the pipeline is up: 200 once every stage has started,
  503 with the reason before that and while draining.
* ``/metrics`` -- the agent's own metrics, Prometheus text format.
* ``/status`` -- JSON snapshot used by ``edge-agent status``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from edge_agent.admin import prometheus
from edge_agent.httpserver import Reply, Request
from edge_agent.runtime.telemetry import Registry


class AdminEndpoint:
    def __init__(
        self,
        registry: Registry,
        status: Callable[[], dict[str, Any]],
        readiness: Callable[[], tuple[bool, str]],
        health: Callable[[], tuple[bool, str]] = lambda: (True, "live"),
    ) -> None:
        self._registry = registry
        self._status = status
        self._readiness = readiness
        self._health = health

    async def handle(self, request: Request) -> Reply:
        if request.method not in ("GET", "HEAD"):
            return Reply.text(405, "method not allowed\n", headers=(("Allow", "GET, HEAD"),))
        route = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/status": self._status_json,
        }.get(request.path)
        if route is None:
            return Reply.text(404, "not found; try /healthz, /readyz, /metrics or /status\n")
        return route()

    def _healthz(self) -> Reply:
        live, reason = self._health()
        return Reply.text(200 if live else 503, ("ok" if live else reason) + "\n")

    def _readyz(self) -> Reply:
        ready, reason = self._readiness()
        return Reply.text(200 if ready else 503, (reason or ("ready" if ready else "not ready")) + "\n")

    def _metrics(self) -> Reply:
        body = prometheus.render(self._registry.collect()).encode()
        return Reply(200, body, content_type=prometheus.CONTENT_TYPE)

    def _status_json(self) -> Reply:
        body = json.dumps(self._status(), indent=2, sort_keys=True, default=str).encode()
        return Reply(200, body + b"\n", content_type="application/json")
