"""Routes of the local admin endpoint: /healthz, /readyz, /metrics, /status.

* ``/healthz`` -- liveness: 200 while every pipeline stage makes the progress
  it promised, 503 naming the wedged stage otherwise (the same check gates
  the systemd watchdog pings).
* ``/readyz`` -- the pipeline is up: 200 once every stage has started,
  503 with the reason before that and while draining.
* ``/metrics`` -- the agent's own metrics, Prometheus text format.
* ``/status`` -- JSON snapshot used by ``edge-agent status``.

With a bearer token configured (``admin.bearer_token_file``; required off
loopback) every route but ``/healthz`` wants ``Authorization: Bearer
<token>``, compared in constant time; refusals are ``401`` and are logged at
most once per 10 s, never with what the client sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from edge_agent.admin import prometheus
from edge_agent.httpserver import Reply, Request
from edge_agent.runtime.telemetry import Registry
from edge_agent.security.exposure import token_matches

log = logging.getLogger("edge_agent.admin")
_WARN_EVERY = 10.0


class AdminEndpoint:
    def __init__(
        self,
        registry: Registry,
        status: Callable[[], dict[str, Any]],
        readiness: Callable[[], tuple[bool, str]],
        health: Callable[[], tuple[bool, str]] = lambda: (True, "live"),
        *,
        token: str = "",
        refused: Callable[[str], None] | None = None,
    ) -> None:
        self._registry = registry
        self._status = status
        self._readiness = readiness
        self._health = health
        self._expected = f"Bearer {token}".encode() if token else b""
        self._last_warning = -_WARN_EVERY
        self._refused = refused

    async def handle(self, request: Request) -> Reply:
        if request.method not in ("GET", "HEAD"):
            return Reply.text(405, "method not allowed\n", headers=(("Allow", "GET, HEAD"),))
        if self._expected and request.path != "/healthz" and not self._authorized(request):
            return Reply.text(
                401,
                "missing or wrong bearer token\n",
                headers=(("WWW-Authenticate", 'Bearer realm="edge-agent"'),),
            )
        route = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/status": self._status_json,
        }.get(request.path)
        if route is None:
            return Reply.text(404, "not found; try /healthz, /readyz, /metrics or /status\n")
        return route()

    def _authorized(self, request: Request) -> bool:
        given = (request.header("authorization") or "").encode("latin-1")
        if token_matches(given, self._expected):
            return True
        if self._refused is not None:
            self._refused("unauthorized")
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY:
            self._last_warning = now
            log.warning(
                "admin endpoint refused %s from %s: missing or wrong bearer token "
                "(repeats within %gs are not logged)",
                request.path,
                request.peer or "?",
                _WARN_EVERY,
            )
        return False

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
