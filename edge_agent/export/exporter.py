"""The exporter task: take batches from the buffer and deliver them upstream.

Theory of operation: one loop takes a batch, encodes it for the wire (one
gzip member per body, never concatenated members: see DESIGN.md), and tries
to deliver it until the response settles it. Every batch is settled exactly
once: ``ack`` on success or partial success (rejected records counted),
``drop`` on a permanent failure (counted with the status), and otherwise it
is retried with backoff for as long as it takes, because the buffer budget,
not a timer, decides what is given up.

"Upstream unreachable" is logged once per state change, not per attempt,
plus a summary every ten minutes while it lasts
(:class:`~edge_agent.runtime.ratelimit.RepeatLimiter`). A batch in hand
when the loop is cancelled (shutdown, or the exporter replaced on reload) is
released back to the buffer, never lost. Before each bounded step the loop
promises progress to its liveness probe (a request within ``timeout``, a
retry sleep); waiting for data is idle.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from edge_agent.buffer.api import Batch, BufferReader
from edge_agent.errors import ExportTransportError
from edge_agent.export.config import ExporterConfig
from edge_agent.export.http import Endpoint, HttpConnection
from edge_agent.export.otlp_http import ExportOutcome, classify
from edge_agent.runtime.backoff import Backoff
from edge_agent.runtime.liveness import NullProbe, StageProbe
from edge_agent.runtime.ratelimit import RepeatLimiter, ReportKind
from edge_agent.runtime.telemetry import Counter, Histogram

log = logging.getLogger("edge_agent.exporter")

_THREAD_COMPRESS_THRESHOLD = 256 * 1024  # larger bodies are compressed off the event loop
Connector = Callable[[Endpoint], Awaitable[trio.abc.Stream]]


@dataclass
class ExportStatus:
    """Live exporter state for ``/status``."""

    endpoint: str
    upstream: str = "unknown"  # unknown | reachable | unreachable
    requests_ok: int = 0
    requests_failed: int = 0
    last_success_unix: float | None = None
    last_error: str | None = None
    last_error_unix: float | None = None
    unreachable_since_unix: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ExportCounters:
    exported: Counter  # signal
    dropped: Counter  # signal, reason
    requests: Counter  # signal, outcome
    sent_bytes: Counter  # signal
    latency: Histogram  # signal


def describe_os_error(exc: BaseException) -> str:
    """The most specific reason inside a (possibly nested) connect error, e.g. "Connection refused"."""
    nested = [*getattr(exc.__cause__, "exceptions", ()), exc.__cause__, exc]
    for inner in nested:
        if isinstance(inner, OSError) and inner.errno:
            return os.strerror(inner.errno)
    return str(exc) or type(exc).__name__


async def open_tcp(endpoint: Endpoint) -> trio.abc.Stream:
    return await trio.open_tcp_stream(endpoint.host, endpoint.port)


@dataclass
class Exporter:
    config: ExporterConfig
    reader: BufferReader
    counters: ExportCounters
    status: ExportStatus
    connect: Connector = open_tcp
    rng: random.Random = field(default_factory=random.Random)
    probe: StageProbe = field(default_factory=NullProbe)
    _connection: HttpConnection | None = field(default=None, init=False)
    _unreachable: RepeatLimiter = field(default_factory=RepeatLimiter, init=False)

    def __post_init__(self) -> None:
        self.endpoint = Endpoint.parse(self.config.endpoint)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                self.probe.idle()
                batch = await self.reader.next_batch(max_bytes=self.config.batch.max_bytes)
                try:
                    await self.deliver(batch)
                except BaseException:
                    # cancelled mid-delivery (shutdown, replaced on reload): the batch goes back
                    self.reader.release(batch)
                    raise
        finally:
            await self._close_connection()

    async def deliver(self, batch: Batch) -> None:
        """Send ``batch`` until its outcome settles it (success, partial or permanent)."""
        self.probe.expect(self.config.timeout, "export request")
        body, encoding = await self._encode(batch)
        retry = self.config.retry_on_failure
        backoff = Backoff(
            retry.initial_interval,
            retry.max_interval,
            retry.multiplier,
            retry.randomization_factor,
            rng=self.rng,
        )
        first_attempt = trio.current_time()
        while True:
            self.probe.expect(self.config.timeout, "export request")
            outcome = await self._attempt(batch, body, encoding)
            if outcome.kind != "retry":
                self._settle(batch, outcome)
                return
            if not retry.enabled:
                self.reader.drop(batch, "retry_disabled")
                return
            if retry.max_elapsed_time and trio.current_time() - first_attempt >= retry.max_elapsed_time:
                log.warning(
                    "giving up on a %s batch of %d records after %.0fs of retries",
                    batch.signal.value,
                    batch.records,
                    retry.max_elapsed_time,
                )
                self.reader.drop(batch, "retry_exhausted")
                return
            delay = outcome.retry_after if outcome.retry_after is not None else backoff.next_delay()
            self.probe.expect(delay, "retry backoff")
            await trio.sleep(delay)

    async def _encode(self, batch: Batch) -> tuple[bytes, str]:
        wanted = self.config.compression
        if batch.encoding == "identity" and wanted == "gzip":
            if len(batch.body) > _THREAD_COMPRESS_THRESHOLD:
                return await trio.to_thread.run_sync(gzip.compress, batch.body, 6), "gzip"
            return gzip.compress(batch.body, 6), "gzip"
        if batch.encoding == "identity" and wanted == "zstd":
            import zstandard

            return zstandard.ZstdCompressor(level=3).compress(batch.body), "zstd"
        if batch.encoding == "identity" or (wanted != "none" and batch.encoding == wanted):
            return batch.body, batch.encoding
        raise NotImplementedError(f"re-encoding {batch.encoding} bodies as {wanted}")

    async def _attempt(self, batch: Batch, body: bytes, encoding: str) -> ExportOutcome:
        signal = batch.signal.value
        started = trio.current_time()
        try:
            with trio.fail_after(self.config.timeout):
                response = await self._post(batch.signal.http_path, body, encoding)
        except (ExportTransportError, trio.TooSlowError, OSError) as exc:
            await self._close_connection()
            reason = "timed out" if isinstance(exc, trio.TooSlowError) else str(exc) or type(exc).__name__
            self._note_unreachable(reason)
            self.counters.requests.inc(signal=signal, outcome="transport_error")
            return ExportOutcome("retry", message=reason)
        self.counters.latency.observe(trio.current_time() - started, signal=signal)
        self.counters.sent_bytes.inc(len(body), signal=signal)
        outcome = classify(
            response.status,
            response.body,
            content_type=response.header("content-type"),
            retry_after=response.header("retry-after"),
        )
        self.counters.requests.inc(signal=signal, outcome=outcome.kind)
        if outcome.kind == "retry":
            self._note_unreachable(f"HTTP {outcome.status} {outcome.message}".strip())
        else:
            self._note_reachable()
        return outcome

    async def _post(self, path: str, body: bytes, encoding: str) -> Any:
        if self._connection is None or not self._connection.is_reusable():
            await self._close_connection()
            try:
                stream = await self.connect(self.endpoint)
            except OSError as exc:
                raise ExportTransportError(
                    f"cannot connect to {self.endpoint.authority}: {describe_os_error(exc)}"
                ) from exc
            self._connection = HttpConnection(stream)
        headers = [("Content-Type", "application/x-protobuf"), *self.config.headers.items()]
        if encoding != "identity":
            headers.append(("Content-Encoding", encoding))
        return await self._connection.request(
            "POST", self.endpoint.base_path + path, host=self.endpoint.authority, headers=headers, body=body
        )

    def _settle(self, batch: Batch, outcome: ExportOutcome) -> None:
        signal = batch.signal.value
        if outcome.kind == "permanent":
            self.status.requests_failed += 1
            self.status.last_error = f"HTTP {outcome.status}: {outcome.message}"
            self.status.last_error_unix = time.time()
            log.error(
                "upstream refused a %s batch of %d records with HTTP %d: %s; the batch is dropped",
                signal,
                batch.records,
                outcome.status,
                outcome.message or "(no message)",
            )
            self.reader.drop(batch, f"http_{outcome.status}")
            return
        delivered = batch.records - min(outcome.rejected, batch.records)
        if outcome.rejected:
            self.counters.dropped.inc(outcome.rejected, signal=signal, reason="rejected")
            log.warning(
                "upstream rejected %d of %d %s: %s",
                outcome.rejected,
                batch.records,
                batch.signal.record_noun,
                outcome.message or "(no message)",
            )
        self.counters.exported.inc(delivered, signal=signal)
        self.status.requests_ok += 1
        self.status.last_success_unix = time.time()
        self.reader.ack(batch)

    def _note_unreachable(self, reason: str) -> None:
        self.status.requests_failed += 1
        self.status.last_error = reason
        self.status.last_error_unix = time.time()
        if self.status.upstream != "unreachable":
            self.status.upstream = "unreachable"
            self.status.unreachable_since_unix = time.time()
        report = self._unreachable.failure(trio.current_time())
        if report.kind is ReportKind.FIRST:
            log.warning(
                "upstream %s is unreachable (%s); telemetry stays queued and is retried with "
                "backoff up to %gs",
                self.config.endpoint,
                reason,
                self.config.retry_on_failure.max_interval,
            )
        elif report.kind is ReportKind.SUMMARY:
            log.warning(
                "upstream %s still unreachable after %s (%d failed attempts; last error: %s); "
                "telemetry stays queued",
                self.config.endpoint,
                report.lasted(),
                report.failures,
                reason,
            )

    def _note_reachable(self) -> None:
        report = self._unreachable.success(trio.current_time())
        if report is not None:
            log.info(
                "upstream %s is reachable again after %s (%d failed attempts)",
                self.config.endpoint,
                report.lasted(),
                report.failures,
            )
        elif self.status.upstream == "unknown":
            log.info("upstream %s is reachable", self.config.endpoint)
        self.status.upstream = "reachable"
        self.status.unreachable_since_unix = None

    async def _close_connection(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.aclose()
