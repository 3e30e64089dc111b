"""Circuit breaker: table-driven event sequences on explicit time."""

from __future__ import annotations

import pytest

from edge_agent.export.breaker import BreakerPolicy, BreakerState, CircuitBreaker

CLOSED, OPEN, HALF = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
POLICY = BreakerPolicy(failure_threshold=3, open_interval=5.0, max_open_interval=20.0, multiplier=2.0)

# (event, time, expected state after, expected can_send(time) after)
SCENARIOS = {
    "failures below the threshold keep it closed": [
        ("send", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("send", 1, CLOSED, True),
        ("fail", 1, CLOSED, True),
    ],
    "a success resets the failure count": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("ok", 0, CLOSED, True),
        ("fail", 1, CLOSED, True),
        ("fail", 1, CLOSED, True),
    ],
    "threshold failures open it until the interval passes": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("fail", 10, OPEN, False),
        ("check", 14.9, OPEN, False),
        ("check", 15, OPEN, True),
    ],
    "one probe at a time while half-open": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("fail", 0, OPEN, False),
        ("send", 5, HALF, False),
        ("check", 100, HALF, False),
    ],
    "a successful probe closes it": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("fail", 0, OPEN, False),
        ("send", 5, HALF, False),
        ("ok", 6, CLOSED, True),
    ],
    "failed probes double the interval up to the maximum": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("fail", 0, OPEN, False),
        ("send", 5, HALF, False),
        ("fail", 5, OPEN, False),
        ("check", 14.9, OPEN, False),
        ("check", 15, OPEN, True),
        ("send", 15, HALF, False),
        ("fail", 15, OPEN, False),
        ("check", 35, OPEN, True),
        ("send", 35, HALF, False),
        ("fail", 35, OPEN, False),
        ("check", 54.9, OPEN, False),
        ("check", 55, OPEN, True),
    ],
    "an abandoned probe lets the next one go at once": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("fail", 0, OPEN, False),
        ("send", 5, HALF, False),
        ("abandon", 6, OPEN, True),
    ],
    "a late failure while open changes nothing": [
        ("fail", 0, CLOSED, True),
        ("fail", 0, CLOSED, True),
        ("fail", 0, OPEN, False),
        ("fail", 1, OPEN, False),
        ("check", 5, OPEN, True),
    ],
    "Retry-After holds a closed endpoint back": [
        ("hold", 30, CLOSED, False),
        ("check", 29.9, CLOSED, False),
        ("check", 30, CLOSED, True),
    ],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_breaker_scenarios(steps: list[tuple[str, float, BreakerState, bool]]) -> None:
    """Each step leaves the breaker in the expected state and send permission."""
    breaker = CircuitBreaker(POLICY)
    for number, (event, at, state, can_send) in enumerate(steps):
        when = at
        if event == "send":
            breaker.on_send(when)
        elif event == "fail":
            breaker.on_failure(when)
        elif event == "ok":
            breaker.on_success(when)
        elif event == "abandon":
            breaker.on_abandon(when)
        elif event == "hold":
            breaker.hold_until(at)
            when = 0
        assert (breaker.state, breaker.can_send(when)) == (state, can_send), f"step {number}: {event}@{when}"


def test_send_without_permission_is_a_bug() -> None:
    """Sending while the breaker is open raises instead of silently probing twice."""
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1))
    breaker.on_failure(0)
    with pytest.raises(RuntimeError):
        breaker.on_send(1)


def test_an_hour_offline_costs_one_probe_per_max_interval() -> None:
    """Probing a dead endpoint for an hour sends ~3600/max_open_interval probes, not a storm."""
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, open_interval=5, max_open_interval=60))
    now, sent = 0.0, 0
    while now < 3600:
        at = breaker.available_at(now)
        assert at is not None
        now = max(now, at)
        breaker.on_send(now)
        sent += 1
        breaker.on_failure(now)
    assert 60 <= sent <= 66


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"open_interval": 10, "max_open_interval": 5}, "open_interval"),
        ({"multiplier": 0.5}, "multiplier"),
    ],
)
def test_policy_validation(kwargs: dict[str, float], message: str) -> None:
    """Nonsensical policies are refused with the offending setting named."""
    with pytest.raises(ValueError, match=message):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
