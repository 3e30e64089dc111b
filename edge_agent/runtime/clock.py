"""The agent's clock: trio's clock for waiting, plus a wall clock for timestamps.

Under ``trio.testing.MockClock`` a test or the simulator can also make wall
time virtual (``VirtualWallClock``), so record timestamps advance with the
simulated day instead of the real second it took to run.
"""

from __future__ import annotations

import math
import time

import trio


class _Grid:
    origin = 0.0


def set_tick_origin(origin: float) -> None:
    """Count ticks from ``origin`` (trio time); the agent sets its start time.

    Ticks then depend on when the agent started, not on the clock's epoch: a
    simulation replays exactly, and devices started at different moments do
    not share a phase.
    """
    _Grid.origin = origin


def tick_origin() -> float:
    return _Grid.origin


async def sleep_to_next_tick(period: float) -> None:
    """Sleep until the next tick: a multiple of ``period`` after the tick origin.

    Periodic loops (and scrapers, see :class:`~edge_agent.runtime.schedule.TickSchedule`)
    align their ticks this way so that loops with the same (or a multiple)
    period wake the event loop once, together: on a small board every wake-up
    of an idle loop costs a few hundred microseconds of CPU, whatever the loop
    then does.
    """
    await trio.sleep_until(next_tick(period))


def next_tick(period: float) -> float:
    """The next tick of ``period`` (see :func:`sleep_to_next_tick`)."""
    origin = _Grid.origin
    return origin + (math.floor((trio.current_time() - origin) / period) + 1) * period


class AgentClock:
    """Real wall time; trio's (possibly mocked) monotonic time."""

    def monotonic(self) -> float:
        return trio.current_time()

    def time_ns(self) -> int:
        return time.time_ns()


class VirtualWallClock(AgentClock):
    """Wall time that advances with trio's clock from a fixed start."""

    def __init__(self, start_ns: int) -> None:
        self._start_ns = start_ns
        self._origin: float | None = None

    def time_ns(self) -> int:
        now = trio.current_time()
        if self._origin is None:
            self._origin = now
        return self._start_ns + int((now - self._origin) * 1e9)
