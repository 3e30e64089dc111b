"""The exporter against a misbehaving upstream: per-spec outcomes, nothing lost or silently dropped."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import trio

from edge_agent.otlp.fragment import Signal
from tests.export.faulty import Behaviour, FaultyUpstream, Partial, Reply
from tests.export.harness import Harness, fast_config, running_exporter, spans


@pytest.fixture
async def upstream() -> AsyncIterator[FaultyUpstream]:
    faulty = FaultyUpstream()
    async with trio.open_nursery() as nursery:
        await nursery.start(faulty.serve)
        yield faulty
        nursery.cancel_scope.cancel()


async def _deliver(
    upstream: FaultyUpstream, script: list[Behaviour], batches: int = 1, **config: object
) -> Harness:
    upstream.queue(script)
    async with running_exporter(fast_config(upstream.endpoint, **config)) as harness:
        total = harness.offer([spans(10, start=i * 10) for i in range(batches)])
        with trio.fail_after(20):
            await harness.wait_settled(total)
            await trio.sleep(0.05)
        return harness


def _check_no_loss(harness: Harness, upstream: FaultyUpstream, offered: int) -> None:
    """Every offered record was either stored upstream or dropped with a counted reason."""
    stored = upstream.sink.records[Signal.TRACES]
    assert harness.exported() == stored - upstream.rejected
    assert harness.exported() + harness.dropped() == offered


RETRIED = {
    "429 then ok": [Reply(429)],
    "503 then ok": [Reply(503)],
    "502 and 504 then ok": [Reply(502), Reply(504)],
    "stalled response (times out)": ["stall"],
    "slowloris trickle (times out)": ["trickle"],
    "reset while sending the body": ["reset_request"],
    "reset in the middle of the response body": ["reset_response"],
    "garbage instead of HTTP": ["garbage"],
    "closed without an answer": ["close"],
    "everything at once": [Reply(503), "garbage", "reset_request", Reply(429), "close", "reset_response"],
}


@pytest.mark.parametrize("script", RETRIED.values(), ids=RETRIED.keys())
async def test_retryable_failures_end_in_delivery(upstream: FaultyUpstream, script: list[Behaviour]) -> None:
    """Transient failures are retried until the data is stored, exactly once."""
    harness = await _deliver(upstream, script, timeout=0.5)
    _check_no_loss(harness, upstream, 10)
    assert harness.dropped() == 0
    assert upstream.sink.records[Signal.TRACES] == 10  # no duplicates: failed attempts stored nothing
    assert upstream.seen[: len(script)] == [b if isinstance(b, str) else type(b).__name__ for b in script]


async def test_retry_after_seconds_is_honoured(upstream: FaultyUpstream) -> None:
    """429 with Retry-After: 1 delays the next attempt by about a second, not by the short backoff."""
    upstream.queue([Reply(429, headers=(("Retry-After", "1"),))])
    async with running_exporter(fast_config(upstream.endpoint)) as harness:
        started = trio.current_time()
        harness.offer([spans(5)])
        with trio.fail_after(10):
            await upstream.sink.wait_for(Signal.TRACES, 5)
        assert 0.9 <= trio.current_time() - started < 3
        assert harness.counters.requests.value(signal="traces", outcome="retry") == 1


async def test_permanent_failure_is_dropped_counted_and_logged_once(
    upstream: FaultyUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """400s drop their batches with reason http_400; the server message is logged, rate-limited."""
    script: list[Behaviour] = [
        Reply(400, body=b'{"message": "bad span"}', content_type="application/json")
    ] * 5
    with caplog.at_level(logging.ERROR, logger="edge_agent.exporter"):
        harness = await _deliver(upstream, script, batches=5, batch=_one_fragment_batches())
    assert harness.dropped("http_400") == 50
    _check_no_loss(harness, upstream, 50)
    lines = [r.getMessage() for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(lines) == 1 and "bad span" in lines[0] and "http_400" in lines[0]


async def test_partial_success_counts_rejected_records(upstream: FaultyUpstream) -> None:
    """A 200 with partial_success.rejected_spans=3 counts 3 dropped (rejected), 7 exported, no retry."""
    harness = await _deliver(upstream, [Partial(3)])
    assert harness.dropped("rejected") == 3
    assert harness.exported() == 7
    _check_no_loss(harness, upstream, 10)
    assert upstream.seen == ["Partial"]


async def test_auth_failures_keep_the_data(upstream: FaultyUpstream) -> None:
    """401/403 are credential problems: the batch is retried, not dropped, and arrives once fixed."""
    harness = await _deliver(upstream, [Reply(401), Reply(403), Reply(401)])
    assert harness.dropped() == 0
    assert upstream.sink.records[Signal.TRACES] == 10
    assert harness.counters.requests.value(signal="traces", outcome="auth") == 3


async def test_nginx_client_cert_refusal_is_an_auth_failure(upstream: FaultyUpstream) -> None:
    """nginx's 400 'No required SSL certificate was sent' keeps the data (not a permanent 400)."""
    page = b"<html><head><title>400 No required SSL certificate was sent</title></head></html>"
    harness = await _deliver(upstream, [Reply(400, body=page, content_type="text/html")])
    assert harness.dropped() == 0
    assert upstream.sink.records[Signal.TRACES] == 10
    status = harness.exporter.status()
    assert "client certificate" in status["endpoints"][0]["last_error"]


async def test_max_elapsed_time_gives_up_with_a_counted_drop(upstream: FaultyUpstream) -> None:
    """With retry_on_failure.max_elapsed_time set, a never-ending outage drops (and counts) the batch."""
    from edge_agent.export.config import RetryConfig

    retry = RetryConfig(initial_interval=0.02, max_interval=0.05, max_elapsed_time=0.3)  # type: ignore[arg-type]
    harness = await _deliver(upstream, [Reply(503)] * 1000, retry_on_failure=retry)
    assert harness.dropped("retry_exhausted") == 10
    _check_no_loss(harness, upstream, 10)


def _one_fragment_batches() -> object:
    from edge_agent.export.config import BatchConfig

    return BatchConfig(max_bytes=1)  # type: ignore[arg-type]


async def test_breaker_probes_are_empty_requests(upstream: FaultyUpstream) -> None:
    """While the breaker is open each probe is an empty export request; the batch follows a good probe."""
    from edge_agent.export.config import CircuitBreakerConfig

    breaker = CircuitBreakerConfig(failure_threshold=1, open_interval=0.05, max_open_interval=0.05)  # type: ignore[arg-type]
    harness = await _deliver(upstream, [Reply(502)] * 4, circuit_breaker=breaker)
    sizes = upstream.body_sizes
    assert sizes[0] > 0  # the first attempt carried the batch and failed: the breaker opened
    assert sizes[1:4] == [0, 0, 0]  # failed probes cost no batch bytes
    assert sizes[4:] == [0, sizes[0]]  # a good probe, then the batch
    assert harness.exported() == 10


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [("garbage", "protocol"), ("stall", "timeout"), ("reset_request", "reset"), ("close", "closed")],
)
async def test_transport_failures_are_named(upstream: FaultyUpstream, behaviour: str, kind: str) -> None:
    """Each transport failure is counted under a stable kind (export.requests{outcome=<kind>})."""
    harness = await _deliver(upstream, [behaviour], timeout=0.3)
    assert harness.counters.requests.value(signal="traces", outcome=kind) == 1
