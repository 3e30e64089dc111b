"""The exporter: take batches from the buffer and deliver them upstream.

Theory of operation. One *dispatcher* task takes a batch from the buffer
only when (a) fewer batches are held than the concurrency limit allows,
(b) the bandwidth caps have room, and (c) some endpoint can take a request.
Taking the batch at the last moment lets the buffer decide what is most
important right then (fresh and high-priority data first). Each batch then
gets its own *delivery* task that retries it until it is settled exactly
once: ``ack`` on success or partial success (rejected records counted),
``drop`` on a permanent failure (counted with the reason), and ``release``
if the exporter is stopped first (the buffer keeps it).

Every attempt waits for an endpoint its circuit breaker lets through, a
free request slot (adaptive concurrency), and bandwidth; then it borrows a
keep-alive connection and sends. Results feed the breaker (endpoint health),
the AIMD controller (RTT and backpressure) and the counters. A failed
attempt is retried at once on another endpoint not yet tried for this
batch; when all were tried, the batch waits its backoff (full jitter), or
only for the breakers when every endpoint is open, so an offline link costs
one probe per breaker interval, whatever the number of batches.

The policies are sans-IO (:mod:`breaker`, :mod:`concurrency`,
:mod:`bandwidth`, :mod:`endpoints`); this module only waits and moves bytes.

An optional :class:`AttemptAdvisor` (the adaptive controller's link
predictor, issue 8) is asked right before each attempt, once an endpoint,
a slot and bandwidth are available: if it predicts the attempt would fail
it says how long to wait instead, and it learns every attempt's outcome.

Liveness: before each bounded step (a request within ``timeout``, a backoff
sleep, a wait for a breaker or the bandwidth cap) the exporter promises
progress to its :class:`~edge_agent.runtime.liveness.StageProbe`; waiting
for data with no batch in hand is idle, not a stall.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
from collections.abc import Mapping
from typing import Any, Protocol

import trio

from edge_agent.buffer.api import Batch, BufferReader
from edge_agent.export.attempt import Attempt, AttemptResult
from edge_agent.export.bandwidth import Shaper
from edge_agent.export.breaker import BreakerPolicy
from edge_agent.export.concurrency import AimdController, AimdSettings
from edge_agent.export.config import ExporterConfig, is_loopback_host
from edge_agent.export.encoding import CorruptBatchError, encode_for_wire
from edge_agent.export.endpoints import EndpointEntry, EndpointSet
from edge_agent.export.headers import HeaderSet
from edge_agent.export.http import Endpoint
from edge_agent.export.pool import ConnectionPool, Connector, open_tcp
from edge_agent.export.report import Reporter
from edge_agent.export.status import ExportCounters
from edge_agent.runtime.backoff import Backoff
from edge_agent.runtime.liveness import NullProbe, StageProbe
from edge_agent.tls.material import load_client_material
from edge_agent.tls.store import TlsCredentials

log = logging.getLogger("edge_agent.exporter")

_MIN_WAIT = 0.001  # a wait shorter than the clock's resolution would spin instead of sleeping

__all__ = ["Connector", "ExportCounters", "Exporter", "open_tcp"]


class Advice(Protocol):
    @property
    def go(self) -> bool: ...

    @property
    def wait(self) -> float:
        """When not ``go``: seconds before asking again."""
        ...


class AttemptAdvisor(Protocol):
    def advise(self, now: float) -> Advice: ...

    def learned(self, advice: Any, now: float, *, failed: bool, rtt: float | None) -> None: ...


class Exporter:
    def __init__(
        self,
        config: ExporterConfig,
        reader: BufferReader,
        counters: ExportCounters,
        *,
        connect: Connector = open_tcp,
        environ: Mapping[str, str] = os.environ,
        rng: random.Random | None = None,
        probe: StageProbe | None = None,
        advisor: AttemptAdvisor | None = None,
    ) -> None:
        self.config = config
        self.advisor = advisor
        self.probe = probe or NullProbe()
        self._promised_until = 0.0
        self._prepared = False
        self.reader = reader
        self.counters = counters
        self.rng = rng or random.Random()
        self._environ = environ
        breaker = config.circuit_breaker
        policy = BreakerPolicy(breaker.failure_threshold, breaker.open_interval, breaker.max_open_interval)
        self.endpoints = EndpointSet([Endpoint.parse(u) for u in config.urls()], policy, config.balancing)
        ac, maximum = config.adaptive_concurrency, config.sending_queue.num_consumers
        initial = ac.initial_concurrency if ac.enabled else maximum
        self.controller = AimdController(
            AimdSettings(initial, maximum, ac.decrease_ratio, ac.ewma_alpha, ac.rtt_deviation_scale)
        )
        bw = config.bandwidth
        self.shaper = Shaper.create(bw.max_bytes_per_second, bw.burst_bytes, bw.max_bytes_per_day)
        self.headers = HeaderSet(config.headers, config.headers_from_file, environ)
        self.credentials: TlsCredentials | None = None
        self.pool = ConnectionPool(
            credentials=None,
            connect=connect,
            connect_timeout=config.connect_timeout,
            handshake_timeout=config.handshake_timeout,
            idle_timeout=config.idle_conn_timeout,
            max_idle_per_endpoint=config.sending_queue.num_consumers,
        )
        self.report = Reporter(self)
        self.in_flight = 0
        self.held = 0
        self._changed = trio.Event()

    # -- lifecycle ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load credentials (errors are ConfigError), then deliver batches until cancelled."""
        await self.prepare()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._housekeeping)
                task_status.started()
                await self._dispatch(nursery)
        finally:
            with trio.CancelScope(shield=True):
                await self.pool.aclose()

    async def prepare(self) -> None:
        """Load TLS material and secret headers (in a thread); ConfigError if they are unusable.

        Called by :meth:`run`; callers that must know before starting (agent start, a reload
        that replaces the exporter) call it first. Idempotent.
        """
        if self._prepared:
            return
        if any(entry.endpoint.scheme == "https" for entry in self.endpoints.entries):
            material = await trio.to_thread.run_sync(
                functools.partial(load_client_material, self.config.tls, self._environ)
            )
            self.credentials = TlsCredentials(material, environ=self._environ)
            self.pool.credentials = self.credentials
            if self.config.tls.insecure_skip_verify:
                log.warning(
                    "exporter.tls.insecure_skip_verify is true: the server certificate is NOT verified, "
                    "so anyone on the path can read and alter telemetry; use it only for testing"
                )
        if self.headers.has_files():  # no thread when there is nothing to read (MockClock-friendly)
            await trio.to_thread.run_sync(self.headers.load)
        for entry in self.endpoints.entries:
            endpoint = entry.endpoint
            if endpoint.scheme == "http" and not is_loopback_host(endpoint.host):
                log.warning(
                    "sending telemetry UNENCRYPTED over the network to %s (exporter.allow_insecure = true): "
                    "anyone on the path can read and alter it",
                    endpoint.url(""),
                )
        self.report.publish_gauges()
        self._prepared = True

    async def _housekeeping(self) -> None:
        """Poll credential files, close stale idle connections, refresh gauges."""
        tls = self.config.tls
        interval = tls.reload_interval or max(1.0, self.config.idle_conn_timeout / 2)
        while True:
            if self.credentials is not None:
                self.credentials.log_expiry(trio.current_time())
            await trio.sleep(interval)
            if tls.reload_interval:
                if self.credentials is not None:
                    await self.credentials.reload_if_changed()
                await self.headers.reload_if_changed()
            await self.pool.reap()
            self.report.publish_gauges()

    # -- waiting -----------------------------------------------------------

    def notify(self) -> None:
        """Something the waiters depend on changed (slots, breakers, limit)."""
        self._changed.set()
        self._changed = trio.Event()

    def expect(self, within: float, doing: str) -> None:
        """Promise the liveness monitor progress within ``within`` s; the furthest promise wins
        (several delivery tasks share one stage, and each promises only its own step)."""
        until = trio.current_time() + within
        if until >= self._promised_until:
            self._promised_until = until
            self.probe.expect(within, doing)

    async def _wait_change(self, deadline: float | None) -> None:
        if deadline is not None and deadline < math.inf:
            self.expect(deadline - trio.current_time(), "waiting for the upstream")
        event = self._changed
        with trio.move_on_at(math.inf if deadline is None else deadline):
            await event.wait()

    def limit(self) -> int:
        return self.controller.limit

    async def _dispatch(self, nursery: trio.Nursery) -> None:
        while True:
            now = trio.current_time()
            at = self.endpoints.available_at(now)
            if self.held >= self.limit() or at is None or at > now:
                await self._wait_change(at if self.held < self.limit() else None)
                continue
            delay = self.shaper.delay(now)
            if delay > 0:
                self.shaper.waits += 1
                await self._wait_change(now + max(delay, _MIN_WAIT))
                continue
            if self.held == 0:
                self.probe.idle()  # waiting for data is not a stall
                self._promised_until = 0.0
            batch = await self.reader.next_batch(max_bytes=self.config.batch.max_bytes)
            self.held += 1
            nursery.start_soon(self._deliver, batch)

    async def _next_endpoint(self, tried: set[int]) -> tuple[EndpointEntry, Advice | None] | None:
        """Wait for an untried endpoint, a request slot, bandwidth and the advisor's go-ahead;
        None if all were tried."""
        while True:
            now = trio.current_time()
            if self.endpoints.all_tried(tried):
                return None
            at = self.endpoints.available_at(now, tried)
            if at is None or at > now:
                await self._wait_change(at)
                continue
            if self.in_flight >= self.limit():
                await self._wait_change(None)
                continue
            delay = self.shaper.delay(now)
            if delay > 0:
                self.shaper.waits += 1
                await self._wait_change(now + max(delay, _MIN_WAIT))
                continue
            advice = self.advisor.advise(now) if self.advisor is not None else None
            if advice is not None and not advice.go:
                await self._wait_change(now + max(advice.wait, _MIN_WAIT))
                continue
            entry = self.endpoints.pick(now, tried)
            if entry is not None:
                return entry, advice

    # -- delivery ----------------------------------------------------------

    async def _deliver(self, batch: Batch) -> None:
        settled = False
        try:
            self.expect(self.config.timeout, "encoding a batch")
            try:
                body, encoding = await encode_for_wire(
                    batch, self.config.compression, self.config.compression_params.level
                )
            except CorruptBatchError as exc:
                log.error(
                    "a %s batch of %d records cannot be sent and is dropped: %s",
                    batch.signal.value,
                    batch.records,
                    exc,
                )
                self.reader.drop(batch, "corrupt")
                settled = True
                return
            settled = await self._deliver_body(batch, body, encoding)
        finally:
            self.held -= 1
            if not settled:
                self.reader.release(batch)
            self.notify()

    def _backoff(self) -> Backoff:
        retry = self.config.retry_on_failure
        return Backoff(
            retry.initial_interval,
            retry.max_interval,
            retry.multiplier,
            retry.randomization_factor,
            full_jitter=retry.jitter == "full",
            rng=self.rng,
        )

    async def _deliver_body(self, batch: Batch, body: bytes, encoding: str) -> bool:
        """Try until settled; True once the batch was acked or dropped."""
        retry = self.config.retry_on_failure
        backoff = self._backoff()
        first = trio.current_time()
        tried: set[int] = set()
        while True:
            picked = await self._next_endpoint(tried)
            if picked is None:
                tried.clear()
                if any(e.breaker.is_healthy(trio.current_time()) for e in self.endpoints.entries):
                    delay = backoff.next_delay()
                    self.expect(delay, "retry backoff")
                    await trio.sleep(delay)
                continue  # every endpoint is open or held: the breakers pace the next attempt
            entry, advice = picked
            # a probe (empty request) and the batch: two requests, each within exporter.timeout
            self.expect(2 * self.config.timeout, "export request")
            result = await Attempt(self, entry, batch, body, encoding, advice).run()
            if result.settles:
                self.report.settle(batch, result)
                return True
            if not retry.enabled or (
                retry.max_elapsed_time and trio.current_time() - first >= retry.max_elapsed_time
            ):
                reason = "retry_disabled" if not retry.enabled else "retry_exhausted"
                self.report.give_up(batch, reason, result)
                return True
            tried.add(entry.index)
            if result.retry_after is not None:
                entry.breaker.hold_until(trio.current_time() + min(result.retry_after, retry.max_retry_after))
                tried.discard(entry.index)  # its hold, not the backoff, decides when it is tried again
            self.notify()

    # -- views -------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.report.status()


__all__ += ["AttemptResult"]
