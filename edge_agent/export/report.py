"""What the exporter tells operators: settling counts, log lines, gauges, ``/status``.

Log policy: an endpoint's state changes are logged once (unreachable with
the precise reason when its breaker opens, reachable again with the outage
length), plus a summary every ten minutes while it stays unreachable
(:class:`~edge_agent.runtime.ratelimit.RepeatLimiter`); permanent
failures and partial successes are logged at most once a minute per
endpoint and status, with the number of similar lines suppressed. Header
values never appear anywhere here: ``/status`` lists header names only.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from edge_agent.buffer.api import Batch
from edge_agent.export.breaker import BreakerState
from edge_agent.export.endpoints import EndpointEntry
from edge_agent.export.status import LogLimiter
from edge_agent.runtime.ratelimit import RepeatLimiter, ReportKind

if TYPE_CHECKING:
    from edge_agent.export.attempt import AttemptResult
    from edge_agent.export.exporter import Exporter

log = logging.getLogger("edge_agent.exporter")

_UP = {BreakerState.CLOSED: 1.0, BreakerState.HALF_OPEN: 0.5, BreakerState.OPEN: 0.0}


def _clock() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # outside trio.run (a test or a CLI view): breaker times are relative anyway
        return 0.0


class Reporter:
    def __init__(self, exporter: Exporter) -> None:
        self.ex = exporter
        self.limiter = LogLimiter(60.0)
        self._states = {e.index: BreakerState.CLOSED for e in exporter.endpoints.entries}
        self._logged_kind: dict[int, str] = {}  # endpoints whose unreachability was logged
        self._episodes = {e.index: RepeatLimiter() for e in exporter.endpoints.entries}
        self._ever_ok: set[int] = set()
        self._failing_since: dict[int, float] = {}

    # -- per attempt -------------------------------------------------------

    def attempted(self, entry: EndpointEntry, result: AttemptResult, rtt: float | None) -> None:
        health, wall = entry.health, time.time()
        failed = bool(result.error_kind) or result.outcome.kind in ("retry", "auth")
        if failed:
            self._failing_since.setdefault(entry.index, wall)
            health.requests_failed += 1
            health.last_error = result.outcome.message or f"HTTP {result.outcome.status}"
            if result.outcome.status and not result.error_kind:
                health.last_error = f"HTTP {result.outcome.status}: {health.last_error}"
            health.last_error_unix = wall
            health.last_error_kind = result.label
        else:
            self._failing_since.pop(entry.index, None)
            health.requests_ok += 1
            health.last_success_unix = wall
            if rtt is not None:
                health.rtt_s = round(rtt, 4)
        self._log_transition(entry, failed)
        self.publish_gauges()

    def _log_transition(self, entry: EndpointEntry, failed: bool) -> None:
        before, after = self._states[entry.index], entry.breaker.state
        self._states[entry.index] = after
        now, limiter = _clock(), self._episodes[entry.index]
        if failed:
            report = limiter.failure(now)
            kind = entry.health.last_error_kind or ""
            if after is BreakerState.OPEN and (
                before is BreakerState.CLOSED or kind != self._logged_kind.get(entry.index)
            ):
                self._log_unreachable(entry, kind)
            elif report.kind is ReportKind.SUMMARY and entry.index in self._logged_kind:
                log.warning(
                    "upstream %s still unreachable after %s (%d failed attempts; last error: %s); "
                    "telemetry stays queued",
                    entry.health.url,
                    report.lasted(),
                    report.failures,
                    entry.health.last_error,
                )
            return
        recovered = limiter.success(now)
        if self._logged_kind.pop(entry.index, None) is not None and recovered is not None:
            log.info(
                "upstream %s is reachable again after %s (%d failed attempts)",
                entry.health.url,
                recovered.lasted(),
                recovered.failures,
            )
        elif entry.index not in self._ever_ok:
            log.info("upstream %s is reachable", entry.health.url)
        self._ever_ok.add(entry.index)

    def _log_unreachable(self, entry: EndpointEntry, kind: str) -> None:
        """Once per episode (and when the reason changes): the endpoint's breaker opened."""
        self._logged_kind[entry.index] = kind
        level = logging.ERROR if kind.startswith(("tls", "auth")) else logging.WARNING
        log.log(
            level,
            "upstream %s is unreachable: %s; telemetry stays queued and the endpoint is probed "
            "every %gs at most",
            entry.health.url,
            entry.health.last_error,
            self.ex.config.circuit_breaker.max_open_interval,
        )

    # -- settling ----------------------------------------------------------

    def settle(self, batch: Batch, result: AttemptResult) -> None:
        outcome, signal = result.outcome, batch.signal.value
        if outcome.kind == "permanent":
            allowed, suppressed = self.limiter.allow(f"{result.endpoint} {outcome.status}", _clock())
            if allowed:
                log.error(
                    "upstream %s refused a %s batch of %d records with HTTP %d: %s; the batch is dropped "
                    "and counted as records.dropped{reason=http_%d}%s",
                    result.endpoint,
                    signal,
                    batch.records,
                    outcome.status,
                    outcome.message or "(no message)",
                    outcome.status,
                    f" ({suppressed} similar messages suppressed)" if suppressed else "",
                )
            self.ex.reader.drop(batch, f"http_{outcome.status}")
            return
        rejected = min(outcome.rejected, batch.records)
        if rejected:
            self.ex.counters.dropped.inc(rejected, signal=signal, reason="rejected")
            allowed, suppressed = self.limiter.allow(f"{result.endpoint} partial", _clock())
            if allowed:
                log.warning(
                    "upstream %s rejected %d of %d %s: %s%s",
                    result.endpoint,
                    rejected,
                    batch.records,
                    batch.signal.record_noun,
                    outcome.message or "(no message)",
                    f" ({suppressed} similar messages suppressed)" if suppressed else "",
                )
        self.ex.counters.exported.inc(batch.records - rejected, signal=signal)
        self.ex.reader.ack(batch)

    def give_up(self, batch: Batch, reason: str, result: AttemptResult) -> None:
        log.warning(
            "giving up on a %s batch of %d records (%s) after: %s",
            batch.signal.value,
            batch.records,
            reason,
            result.outcome.message or result.label,
        )
        self.ex.reader.drop(batch, reason)

    # -- views -------------------------------------------------------------

    def publish_gauges(self) -> None:
        ex = self.ex
        counters = ex.counters
        counters.concurrency_limit.set(ex.limit())
        counters.in_flight.set(ex.in_flight)
        for entry in ex.endpoints.entries:
            counters.endpoint_up.set(_UP[entry.breaker.state], endpoint=entry.health.url)
        creds = ex.credentials
        if creds is not None:
            now = time.time()
            if creds.current.client_cert is not None:
                counters.cert_expiry_days.set(
                    round(creds.current.client_cert.days_left(now), 3), cert="client"
                )
            if creds.current.ca_certs:
                days = min(c.days_left(now) for c in creds.current.ca_certs)
                counters.cert_expiry_days.set(round(days, 3), cert="ca")

    def health(self) -> tuple[str, list[str]]:
        """``ok`` / ``degraded`` / ``failing`` and the reasons, for ``/status`` and health reports."""
        ex, now = self.ex, _clock()
        warnings: list[str] = []
        failing = False
        creds = ex.credentials
        if creds is not None:
            expiry = creds.expiry_warning(ex.config.tls.cert_expiry_warning)
            if expiry:
                warnings.append(expiry)
                failing = failing or "has expired" in expiry
            if creds.last_refusal:
                warnings.append(f"last TLS file change was refused: {creds.last_refusal}")
        down = [e for e in ex.endpoints.entries if e.breaker.state is not BreakerState.CLOSED]
        for entry in down:
            warnings.append(f"{entry.health.url} is unreachable: {entry.health.last_error}")
        if ex.endpoints.entries and len(down) == len(ex.endpoints.entries):
            failing = True
        if ex.shaper.daily is not None and ex.shaper.daily.delay(now) > 0:
            warnings.append("the daily bandwidth budget is used up; sending resumes when the window ends")
        return ("failing" if failing else "degraded" if warnings else "ok"), warnings

    def _upstream(self, entries: list[dict[str, Any]]) -> str:
        """``reachable`` if any endpoint's latest attempt worked, ``unreachable`` if all failed."""
        if not any(e["requests_ok"] or e["requests_failed"] for e in entries):
            return "unknown"
        return "unreachable" if len(self._failing_since) == len(entries) else "reachable"

    def status(self) -> dict[str, Any]:
        ex, now = self.ex, _clock()
        entries = [e.as_dict(now) for e in ex.endpoints.entries]
        health, warnings = self.health()
        successes = [e["last_success_unix"] for e in entries if e["last_success_unix"]]
        errors = sorted((e for e in entries if e["last_error_unix"]), key=lambda e: e["last_error_unix"])
        stats = ex.shaper.statistics(now)
        return {
            "endpoint": ex.config.endpoint,
            "upstream": self._upstream(entries),
            "unreachable_since_unix": min(self._failing_since.values())
            if len(self._failing_since) == len(entries)
            else None,
            "requests_ok": sum(e["requests_ok"] for e in entries),
            "requests_failed": sum(e["requests_failed"] for e in entries),
            "last_success_unix": max(successes, default=None),
            "last_error": errors[-1]["last_error"] if errors else None,
            "last_error_unix": errors[-1]["last_error_unix"] if errors else None,
            "health": health,
            "warnings": warnings,
            "balancing": ex.config.balancing,
            "endpoints": entries,
            "concurrency": {
                "limit": ex.limit(),
                "max": ex.config.sending_queue.num_consumers,
                "adaptive": ex.config.adaptive_concurrency.enabled,
                "in_flight": ex.in_flight,
                "batches_held": ex.held,
            },
            "bandwidth": None
            if ex.shaper.is_unlimited()
            else {
                "max_bytes_per_second": ex.config.bandwidth.max_bytes_per_second,
                "max_bytes_per_day": ex.config.bandwidth.max_bytes_per_day,
                "charged_bytes": stats.charged_bytes,
                "daily_remaining_bytes": stats.daily_remaining,
                "waits": stats.waits,
            },
            "tls": ex.credentials.status() if ex.credentials is not None else None,
            "headers": ex.headers.names(),
            "connections": {"idle": ex.pool.idle_count(), **ex.pool.stats.__dict__},
        }
