"""Link traces for the simulator: what the uplink looks like at any instant (sans-IO).

A trace maps a time (seconds since the scenario started) and the wall-clock
hour to a :class:`LinkState`: up or down, the bandwidth (bytes per second,
``None`` = unlimited), the round-trip time, and the probability that a
request dies in transit (packet loss severe enough to reset the transfer).

Kinds (``[link] kind = ...`` in a scenario):

* ``always_on``: up all the time.
* ``flapping``: ``up`` seconds up, then ``down`` seconds down, repeating.
* ``nightly``: down every day from ``outage_start_hour`` for ``outage``
  (local time of the simulated device).
* ``cellular``: up, with ``bandwidth`` bytes/s and ``loss`` per request
  (a 2G-like link: 20 kB/s, 10 % of transfers reset).

Any kind may add ``bandwidth``, ``rtt`` and ``loss``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edge_agent.config.units import ByteSize, Duration

LinkKind = Literal["always_on", "flapping", "nightly", "cellular"]


@dataclass(frozen=True)
class LinkState:
    up: bool
    bandwidth: float | None = None  # bytes/s; None = unlimited
    rtt: float = 0.05
    loss: float = 0.0


@dataclass(frozen=True)
class LinkConfig:
    """``[link]`` of a scenario."""

    kind: LinkKind = field(default="always_on", metadata={"help": "trace shape"})
    up: Duration = field(default=Duration(300.0), metadata={"help": "flapping: time up per cycle"})
    down: Duration = field(default=Duration(300.0), metadata={"help": "flapping: time down per cycle"})
    outage_start_hour: float = field(default=0.0, metadata={"help": "nightly: hour the outage begins"})
    outage: Duration = field(default=Duration(8 * 3600.0), metadata={"help": "nightly: outage length"})
    bandwidth: ByteSize = field(default=ByteSize(0), metadata={"help": "bytes per second; 0 = unlimited"})
    rtt: Duration = field(default=Duration(0.05), metadata={"help": "round-trip time"})
    loss: float = field(default=0.0, metadata={"help": "probability a transfer is reset in transit"})

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss < 1.0:
            raise ValueError("link.loss must be in [0, 1)")
        if self.kind == "flapping" and (self.up <= 0 or self.down <= 0):
            raise ValueError("link.up and link.down must be positive for a flapping link")


class LinkTrace:
    def __init__(self, config: LinkConfig, *, start_hour: float = 0.0) -> None:
        self.config = config
        self.start_hour = start_hour

    def is_up(self, t: float) -> bool:
        c = self.config
        if c.kind == "flapping":
            return t % (c.up + c.down) < c.up
        if c.kind == "nightly":
            seconds_of_day = (self.start_hour * 3600.0 + t) % 86400.0
            since_start = (seconds_of_day - c.outage_start_hour * 3600.0) % 86400.0
            return since_start >= c.outage
        return True

    def at(self, t: float) -> LinkState:
        c = self.config
        return LinkState(
            up=self.is_up(t),
            bandwidth=float(c.bandwidth) if c.bandwidth else None,
            rtt=c.rtt,
            loss=c.loss,
        )

    def next_change(self, t: float) -> float | None:
        """The first time after ``t`` the link goes up or down; None if it never changes."""
        c = self.config
        if c.kind == "flapping":
            cycle = c.up + c.down
            into = t % cycle
            return t + (c.up - into if into < c.up else cycle - into)
        if c.kind == "nightly" and 0 < c.outage < 86400.0:
            seconds_of_day = (self.start_hour * 3600.0 + t) % 86400.0
            since_start = (seconds_of_day - c.outage_start_hour * 3600.0) % 86400.0
            return t + (86400.0 - since_start if since_start >= c.outage else c.outage - since_start)
        return None

    def up_intervals(self, until: float) -> list[tuple[float, float]]:
        """``[(went_up, went_down), ...]`` up to ``until`` (for freshness after reconnects)."""
        spans: list[tuple[float, float]] = []
        t = 0.0
        start = 0.0 if self.is_up(0.0) else None
        while t < until:
            nxt = self.next_change(t)
            if nxt is None or nxt >= until:
                break
            if self.is_up(nxt):
                start = nxt
            elif start is not None:
                spans.append((start, nxt))
                start = None
            t = nxt
        if start is not None:
            spans.append((start, until))
        return spans
