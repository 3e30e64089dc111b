"""The exporter's self-metrics and its ``/status`` section.

Metric names (``edge_agent.`` prefix in OTLP, ``edge_agent_`` in Prometheus):

* ``records.exported{signal}``, ``records.dropped{signal,reason}``
* ``export.requests{signal,outcome}``: outcome is success, partial, retry,
  auth, permanent, or a transport failure kind (refused, timeout, tls_*...)
* ``export.sent{signal}`` (bytes of requests that got an HTTP response),
  ``export.attempted`` (request bytes charged to the bandwidth caps, every
  attempt that reached a connection)
* ``export.latency{signal}``
* ``export.concurrency.limit``, ``export.requests.in_flight``
* ``export.endpoint.up{endpoint}``: 1 closed breaker, 0.5 half-open, 0 open
* ``tls.cert.expiry{cert}``: days until the client certificate (``client``)
  or the earliest CA certificate (``ca``) expires
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent.runtime.telemetry import Counter, Gauge, Histogram, Registry

log = logging.getLogger("edge_agent.exporter")


@dataclass(frozen=True)
class ExportCounters:
    exported: Counter  # signal
    dropped: Counter  # signal, reason
    requests: Counter  # signal, outcome
    sent_bytes: Counter  # signal
    latency: Histogram  # signal
    attempted_bytes: Counter
    concurrency_limit: Gauge
    in_flight: Gauge
    endpoint_up: Gauge  # endpoint
    cert_expiry_days: Gauge  # cert

    @classmethod
    def create(cls, reg: Registry, dropped: Counter | None = None) -> ExportCounters:
        return cls(
            exported=reg.counter("records.exported", "records delivered upstream", labels=("signal",)),
            dropped=dropped
            or reg.counter(
                "records.dropped", "records dropped, by signal and reason", labels=("signal", "reason")
            ),
            requests=reg.counter(
                "export.requests", "upstream requests by outcome", labels=("signal", "outcome")
            ),
            sent_bytes=reg.counter(
                "export.sent", "request bytes that reached the upstream", unit="By", labels=("signal",)
            ),
            latency=reg.histogram("export.latency", "upstream request latency", labels=("signal",)),
            attempted_bytes=reg.counter(
                "export.attempted", "bytes put on the wire, failed attempts included", unit="By"
            ),
            concurrency_limit=reg.gauge(
                "export.concurrency.limit", "requests allowed in flight (adaptive concurrency)"
            ),
            in_flight=reg.gauge("export.requests.in_flight", "requests in flight now"),
            endpoint_up=reg.gauge(
                "export.endpoint.up",
                "1 = endpoint in use, 0.5 = being probed, 0 = circuit open",
                labels=("endpoint",),
            ),
            cert_expiry_days=reg.gauge(
                "tls.cert.expiry", "days until the certificate expires", unit="d", labels=("cert",)
            ),
        )


class LogLimiter:
    """At most one log line per key per ``interval`` (trio-clock seconds); counts the rest."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """``(should_log, suppressed_since_last_line)``."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._suppressed.pop(key, 0)
