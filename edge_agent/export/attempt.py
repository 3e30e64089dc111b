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

When the attempt is the circuit breaker's probe (half-open), it first sends
an *empty* export request of the same signal (a valid OTLP request with no
records; rotel and the Collector answer 200). Only if that succeeds does the
batch follow, so while a proxy answers 502 for a dead collector behind it,
each probe costs a request head instead of a whole batch on a metered link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from edge_agent.buffer.api import Batch
from edge_agent.errors import ExportTransportError
from edge_agent.export.breaker import BreakerState
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
    def __init__(
        self,
        exporter: Exporter,
        entry: EndpointEntry,
        batch: Batch,
        body: bytes,
        encoding: str,
        advice: Any = None,
    ):
        self.exporter = exporter
        self.advice = advice  # the attempt advisor's go-ahead, handed back with the outcome
        self.entry = entry
        self.batch = batch
        self.body = body
        endpoint = entry.endpoint
        self.path = endpoint.base_path + batch.signal.http_path
        self.probe_headers = [("Content-Type", "application/x-protobuf"), *exporter.headers.pairs()]
        self.headers = list(self.probe_headers)
        if encoding != "identity":
            self.headers.append(("Content-Encoding", encoding))
        self.wire_size = len(body) + head_size("POST", self.path, self.headers)
        self.sent_bytes = 0  # request bytes that reached a connection

    async def run(self) -> AttemptResult:
        ex, breaker = self.exporter, self.entry.breaker
        # charged now, in the same step as the decision to send, so parallel attempts cannot
        # all pass the cap before any of them is charged; what was not sent is refunded
        ex.shaper.charge(trio.current_time(), self.wire_size)
        ex.in_flight += 1
        ex.controller.on_start(ex.in_flight)
        verdict = False
        try:
            if breaker.state is BreakerState.HALF_OPEN:
                result, rtt = await self._send(probe=True)
                if not _shows_health(result):
                    verdict = True
                    self._learn(result, rtt)
                    return result
                breaker.on_success(trio.current_time())
            result, rtt = await self._send(probe=False)
            verdict = True
        finally:
            ex.in_flight -= 1
            if self.sent_bytes < self.wire_size:
                ex.shaper.refund(trio.current_time(), self.wire_size - self.sent_bytes)
            if not verdict:
                breaker.on_abandon(trio.current_time())
            ex.notify()
        self._learn(result, rtt)
        return result

    async def _send(self, *, probe: bool) -> tuple[AttemptResult, float]:
        """One request: the batch, or (``probe``) an empty export request of the same signal."""
        ex, endpoint = self.exporter, self.entry.endpoint
        body, headers = (b"", self.probe_headers) if probe else (self.body, self.headers)
        started = trio.current_time()
        try:
            with trio.fail_after(ex.config.timeout):
                response = await self._exchange(body, headers)
        except ExportTransportError as exc:
            return self._failure(exc.kind, str(exc)), trio.current_time() - started
        except trio.TooSlowError:
            message = (
                f"{endpoint.authority}: no complete response within exporter.timeout ({ex.config.timeout:g}s)"
            )
            return self._failure("timeout", message), trio.current_time() - started
        rtt = trio.current_time() - started
        signal = self.batch.signal.value
        if not probe:
            ex.counters.latency.observe(rtt, signal=signal)
            ex.counters.sent_bytes.inc(len(body), signal=signal)
        outcome = classify(
            response.status,
            response.body,
            content_type=response.header("content-type"),
            retry_after=response.header("retry-after"),
        )
        return AttemptResult(outcome, endpoint.url("")), rtt

    def _failure(self, kind: str, message: str) -> AttemptResult:
        return AttemptResult(ExportOutcome("retry", message=message), self.entry.endpoint.url(""), kind)

    async def _exchange(self, body: bytes, headers: list[tuple[str, str]]) -> Response:
        pool, endpoint = self.exporter.pool, self.entry.endpoint
        conn = await pool.checkout(endpoint)
        try:
            return await self._request(conn, body, headers)
        except ExportTransportError:
            if conn.requests_done == 0 or conn.response_started:
                raise
            await conn.aclose()  # a stale keep-alive connection: one more try on a new one
            conn = await pool.checkout(endpoint, fresh=True)
            return await self._request(conn, body, headers)
        finally:
            with trio.CancelScope(shield=True):
                await pool.checkin(endpoint, conn)

    async def _request(self, conn: HttpConnection, body: bytes, headers: list[tuple[str, str]]) -> Response:
        ex, endpoint = self.exporter, self.entry.endpoint
        size = len(body) + head_size("POST", self.path, headers)
        self.sent_bytes += size
        ex.counters.attempted_bytes.inc(size)
        return await conn.request("POST", self.path, host=endpoint.authority, headers=headers, body=body)

    def _learn(self, result: AttemptResult, rtt: float) -> None:
        ex = self.exporter
        now = trio.current_time()
        kind = result.outcome.kind
        if _shows_health(result):
            self.entry.breaker.on_success(now)
        else:
            self.entry.breaker.on_failure(now)
        backpressure = bool(result.error_kind) or kind == "retry"
        ok_rtt = rtt if kind in ("success", "partial") else None
        if ex.config.adaptive_concurrency.enabled:
            ex.controller.on_response(now, ok_rtt, backpressure=backpressure)
        ex.counters.requests.inc(signal=self.batch.signal.value, outcome=result.label)
        ex.report.attempted(self.entry, result, ok_rtt)
        if ex.advisor is not None and self.advice is not None:
            ex.advisor.learned(self.advice, now, failed=not _shows_health(result), rtt=ok_rtt)


def _shows_health(result: AttemptResult) -> bool:
    """2xx, 4xx and 429 show a working endpoint; transport errors, 502-504 and refused credentials do not."""
    if result.error_kind or result.outcome.kind == "auth":
        return False
    return result.outcome.status not in (502, 503, 504)
