"""Choosing an upstream endpoint: failover in order, or round-robin (no I/O).

Each endpoint has its own :class:`~edge_agent.export.breaker.CircuitBreaker`
and a small health record for ``/status``. :meth:`EndpointSet.pick` returns
the endpoint a request should use now, skipping the ones the caller already
tried for this batch in the current round:

* ``failover``: the first endpoint in configured order whose breaker lets a
  request through. An open primary is therefore probed once per breaker
  interval (and wins back the traffic as soon as a probe succeeds), while
  the rest of the time the next endpoint in order carries the load.
* ``round_robin``: the next endpoint after the previous pick that lets a
  request through.

If no endpoint can take a request, :meth:`available_at` says when one will
(or ``None`` when the only candidates are waiting for an in-flight probe).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from edge_agent.export.breaker import BreakerPolicy, CircuitBreaker
from edge_agent.export.http import Endpoint

Balancing = Literal["failover", "round_robin"]


@dataclass
class EndpointHealth:
    """Per-endpoint counters and last results, for ``/status``."""

    url: str
    requests_ok: int = 0
    requests_failed: int = 0
    last_success_unix: float | None = None
    last_error: str | None = None
    last_error_unix: float | None = None
    last_error_kind: str | None = None
    rtt_s: float | None = None


@dataclass
class EndpointEntry:
    index: int
    endpoint: Endpoint
    breaker: CircuitBreaker
    health: EndpointHealth = field(init=False)

    def __post_init__(self) -> None:
        self.health = EndpointHealth(self.endpoint.url(""))

    def as_dict(self, now: float) -> dict[str, Any]:
        breaker = self.breaker
        at = breaker.available_at(now)
        return {
            **self.health.__dict__,
            "state": breaker.state.value,
            "consecutive_failures": breaker.consecutive_failures,
            "times_opened": breaker.opened_count,
            "next_attempt_in_s": None if at is None else round(max(0.0, at - now), 1),
        }


class EndpointSet:
    def __init__(self, endpoints: Sequence[Endpoint], policy: BreakerPolicy, balancing: Balancing) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.entries = [EndpointEntry(i, e, CircuitBreaker(policy)) for i, e in enumerate(endpoints)]
        self.balancing = balancing
        self._next = 0

    def _order(self) -> list[EndpointEntry]:
        if self.balancing == "failover":
            return self.entries
        start = self._next % len(self.entries)
        return self.entries[start:] + self.entries[:start]

    def pick(self, now: float, exclude: Collection[int] = ()) -> EndpointEntry | None:
        """The endpoint to use now (its breaker is told a request is going out), or None."""
        for entry in self._order():
            if entry.index in exclude or not entry.breaker.can_send(now):
                continue
            entry.breaker.on_send(now)
            self._next = entry.index + 1
            return entry
        return None

    def available_at(self, now: float, exclude: Collection[int] = ()) -> float | None:
        """Earliest time :meth:`pick` could succeed; None if only in-flight probes can change that."""
        times = [
            at
            for entry in self.entries
            if entry.index not in exclude and (at := entry.breaker.available_at(now)) is not None
        ]
        return min(times, default=None)

    def all_tried(self, exclude: Collection[int]) -> bool:
        return all(entry.index in exclude for entry in self.entries)

    def is_any_healthy(self, now: float) -> bool:
        return any(entry.breaker.is_healthy(now) for entry in self.entries)
