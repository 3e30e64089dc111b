"""Endpoint selection: failover order, round-robin, breakers and already-tried endpoints."""

from __future__ import annotations

from edge_agent.export.breaker import BreakerPolicy
from edge_agent.export.endpoints import EndpointSet
from edge_agent.export.http import Endpoint

POLICY = BreakerPolicy(failure_threshold=1, open_interval=10.0, max_open_interval=10.0)


def _set(balancing: str, n: int = 3) -> EndpointSet:
    urls = [Endpoint.parse(f"https://gw{i}.example:4318") for i in range(n)]
    return EndpointSet(urls, POLICY, balancing)  # type: ignore[arg-type]


def _pick(endpoints: EndpointSet, now: float, exclude: set[int] | None = None) -> int | None:
    entry = endpoints.pick(now, exclude or set())
    if entry is None:
        return None
    entry.breaker.on_success(now)
    return entry.index


def test_failover_uses_the_first_endpoint_while_it_works() -> None:
    """In failover mode every request goes to the first endpoint as long as it is healthy."""
    endpoints = _set("failover")
    assert [_pick(endpoints, 0) for _ in range(5)] == [0, 0, 0, 0, 0]


def test_failover_moves_on_and_probes_the_primary_once_per_interval() -> None:
    """An open primary is skipped until its probe is due, then tried first again."""
    endpoints = _set("failover")
    primary = endpoints.pick(0, set())
    assert primary is not None
    primary.breaker.on_failure(0)
    assert _pick(endpoints, 1) == 1
    assert _pick(endpoints, 9.9) == 1
    probe = endpoints.pick(10.0, set())
    assert probe is not None and probe.index == 0
    assert _pick(endpoints, 10.0) == 1  # the probe is in flight: others keep using the secondary
    probe.breaker.on_success(10.5)
    assert _pick(endpoints, 11) == 0


def test_round_robin_rotates_over_healthy_endpoints() -> None:
    """Round-robin spreads consecutive requests over all endpoints, skipping open ones."""
    endpoints = _set("round_robin")
    assert [_pick(endpoints, 0) for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    middle = endpoints.entries[1]
    middle.breaker.on_failure(0)
    assert [_pick(endpoints, 1) for _ in range(4)] == [0, 2, 0, 2]


def test_tried_endpoints_are_skipped_and_availability_reported() -> None:
    """A batch retried in the same round goes to an endpoint it has not tried yet."""
    endpoints = _set("failover", n=2)
    assert _pick(endpoints, 0, {0}) == 1
    assert endpoints.pick(0, {0, 1}) is None
    assert endpoints.all_tried({0, 1})
    for entry in endpoints.entries:
        entry.breaker.on_failure(0)
    assert endpoints.available_at(5) == 10.0
    assert not endpoints.is_any_healthy(5)


def test_available_at_is_none_while_only_probes_are_out() -> None:
    """When every endpoint waits for an in-flight probe, there is no time to wait for."""
    endpoints = _set("failover", n=1)
    entry = endpoints.entries[0]
    entry.breaker.on_failure(0)
    assert endpoints.pick(10, set()) is entry
    assert endpoints.available_at(11) is None
