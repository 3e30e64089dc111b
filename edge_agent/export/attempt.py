"""One request attempt: borrow a connection, send, classify, teach the policies.

An attempt owns a request slot for its duration. Its request bytes (body
plus head) are charged to the bandwidth caps when it is decided, and
refunded if no connection could be opened (a refused connect puts no
request on the wire); TLS handshakes are not charged (they are counted in
the pool's ``bytes_sent``). Its result feeds:

* the endpoint's circuit breaker: 2xx, 4xx and 429 show the endpoint works;
  transport errors, 502/503/504 and refused credentials count as failures;
* the AIMD controller: 2xx gives an RTT sample; 429/5xx and transport
  errors are backpressure;
* the counters (``export.requests{outcome}`` etc.).

A keep-alive connection that fails before any response byte arrives is
retried once on a fresh connection at once: servers close idle connections
whenever they like, and that race says nothing about the upstream's health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from edge_agent.buffer.api import Batch
from edge_agent.errors import ExportTransportError
from edge_agent.export.endpoints import EndpointEntry
from edge_agent.export.http import HttpConnection, Response, head_size
from edge_agent.export.otlp_http import ExportOutcome, classify

if TYPE_CHECKING:
    from edge_agent.export.exporter import Exporter


@dataclass(frozen=True)
class AttemptResult:
    outcome: ExportOutcome
    endpoint: str
    error_kind: str = ""  # transport failure kind, "" when an HTTP response arrived

    @property
    def settles(self) -> bool:
        return self.outcome.kind in ("success", "partial", "permanent")

    @property
    def retry_after(self) -> float | None:
        return self.outcome.retry_after

    @property
    def label(self) -> str:
        """``export.requests`` outcome label."""
        return self.error_kind or self.outcome.kind


class Attempt:
    def __init__(self, exporter: Exporter, entry: EndpointEntry, batch: Batch, body: bytes, encoding: str):
        self.exporter = exporter
        self.entry = entry
        self.batch = batch
        self.body = body
        endpoint = entry.endpoint
        self.path = endpoint.base_path + batch.signal.http_path
        self.headers = [("Content-Type", "application/x-protobuf"), *exporter.headers.pairs()]
        if encoding != "identity":
            self.headers.append(("Content-Encoding", encoding))
        self.wire_size = len(body) + head_size("POST", self.path, self.headers)
        self.sent = False  # did the request reach a connection (bytes on the wire)?

    async def run(self) -> AttemptResult:
        ex = self.exporter
        # charged now, in the same step as the decision to send, so parallel attempts cannot
        # all pass the cap before any of them is charged; refunded if nothing was sent
        ex.shaper.charge(trio.current_time(), self.wire_size)
        ex.in_flight += 1
        ex.controller.on_start(ex.in_flight)
        verdict = False
        try:
            result, rtt = await self._send()
            verdict = True
        finally:
            ex.in_flight -= 1
            if not self.sent:
                ex.shaper.refund(trio.current_time(), self.wire_size)
            if not verdict:
                self.entry.breaker.on_abandon(trio.current_time())
            ex.notify()
        self._learn(result, rtt)
        return result

    async def _send(self) -> tuple[AttemptResult, float]:
        ex, endpoint = self.exporter, self.entry.endpoint
        started = trio.current_time()
        try:
            with trio.fail_after(ex.config.timeout):
                response = await self._exchange()
        except ExportTransportError as exc:
            return self._failure(exc.kind, str(exc)), trio.current_time() - started
        except trio.TooSlowError:
            message = (
                f"{endpoint.authority}: no complete response within exporter.timeout ({ex.config.timeout:g}s)"
            )
            return self._failure("timeout", message), trio.current_time() - started
        rtt = trio.current_time() - started
        signal = self.batch.signal.value
        ex.counters.latency.observe(rtt, signal=signal)
        ex.counters.sent_bytes.inc(len(self.body), signal=signal)
        outcome = classify(
            response.status,
            response.body,
            content_type=response.header("content-type"),
            retry_after=response.header("retry-after"),
        )
        return AttemptResult(outcome, endpoint.url("")), rtt

    def _failure(self, kind: str, message: str) -> AttemptResult:
        return AttemptResult(ExportOutcome("retry", message=message), self.entry.endpoint.url(""), kind)

    async def _exchange(self) -> Response:
        pool, endpoint = self.exporter.pool, self.entry.endpoint
        conn = await pool.checkout(endpoint)
        try:
            return await self._request(conn)
        except ExportTransportError:
            if conn.requests_done == 0 or conn.response_started:
                raise
            await conn.aclose()  # a stale keep-alive connection: one more try on a new one
            conn = await pool.checkout(endpoint, fresh=True)
            return await self._request(conn)
        finally:
            with trio.CancelScope(shield=True):
                await pool.checkin(endpoint, conn)

    async def _request(self, conn: HttpConnection) -> Response:
        ex, endpoint = self.exporter, self.entry.endpoint
        if not self.sent:
            self.sent = True
            ex.counters.attempted_bytes.inc(self.wire_size)
        return await conn.request(
            "POST", self.path, host=endpoint.authority, headers=self.headers, body=self.body
        )

    def _learn(self, result: AttemptResult, rtt: float) -> None:
        ex = self.exporter
        now = trio.current_time()
        kind = result.outcome.kind
        status = result.outcome.status
        breaker_failure = bool(result.error_kind) or kind == "auth" or status in (502, 503, 504)
        if breaker_failure:
            self.entry.breaker.on_failure(now)
        else:
            self.entry.breaker.on_success(now)
        backpressure = bool(result.error_kind) or kind == "retry"
        ok_rtt = rtt if kind in ("success", "partial") else None
        if ex.config.adaptive_concurrency.enabled:
            ex.controller.on_response(now, ok_rtt, backpressure=backpressure)
        ex.counters.requests.inc(signal=self.batch.signal.value, outcome=result.label)
        ex.report.attempted(self.entry, result, ok_rtt)
