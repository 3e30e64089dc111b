"""Is the pipeline making progress? A deadline monitor fed by the stages themselves.

Theory of operation: every stage that must keep moving (each plugin
runner's tick loop, the exporter loop, the event loop's own heartbeat)
holds a :class:`StageProbe`. Before it starts a step whose duration it can
bound, the stage *promises* progress: ``probe.expect(within=..., doing=...)``
("this scrape will be back within its interval", "this request has a 10 s
deadline", "I sleep 30 s of backoff"). When it starts waiting for input it
has no control over (the exporter waiting for data, a receiver waiting for
clients) it calls ``probe.idle()``: idleness is not a fault.

A stage is *stalled* when a promise is overdue by more than the monitor's
``grace`` (``service.stall_timeout``): the step it promised to finish is
stuck, e.g. a blocking scrape hung in a worker thread, or a task that
ignores cancellation. The pipeline is live iff no stage is stalled.
Liveness gates the systemd watchdog pings and ``/healthz``: a wedged agent
stops pinging and systemd restarts it.

Everything here is synchronous and clock-free: callers pass ``now`` (or a
clock callable), so tests drive it with plain numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stall:
    """One stage whose promised progress is overdue."""

    stage: str
    doing: str
    overdue: float  # seconds past the promise, grace included

    def describe(self) -> str:
        what = f" ({self.doing})" if self.doing else ""
        return f"{self.stage}{what} made no progress for {self.overdue:.0f}s past its deadline"


@dataclass(frozen=True)
class LivenessReport:
    live: bool
    stalls: tuple[Stall, ...] = ()

    def describe(self) -> str:
        if self.live:
            return "live"
        return "wedged: " + "; ".join(s.describe() for s in self.stalls)


@dataclass
class _Promise:
    deadline: float
    doing: str


class Liveness:
    """Tracks each stage's latest promise; see the module docstring."""

    def __init__(self, grace: float) -> None:
        if grace < 0:
            raise ValueError("grace must not be negative")
        self.grace = grace
        self._promises: dict[str, _Promise | None] = {}

    def expect(self, stage: str, now: float, within: float, doing: str = "") -> None:
        """``stage`` promises to report progress again within ``within`` seconds of ``now``."""
        self._promises[stage] = _Promise(now + max(within, 0.0) + self.grace, doing)

    def idle(self, stage: str) -> None:
        """``stage`` waits for outside input; it promises nothing until its next ``expect``."""
        self._promises[stage] = None

    def forget(self, stage: str) -> None:
        """``stage`` no longer exists (a plugin was removed or the agent is stopping)."""
        self._promises.pop(stage, None)

    def stages(self) -> list[str]:
        return sorted(self._promises)

    def check(self, now: float) -> LivenessReport:
        stalls = tuple(
            Stall(stage, promise.doing, now - promise.deadline + self.grace)
            for stage, promise in sorted(self._promises.items())
            if promise is not None and now > promise.deadline
        )
        return LivenessReport(live=not stalls, stalls=stalls)


class StageProbe:
    """The handle one stage holds: ``expect``/``idle`` with the clock filled in."""

    def __init__(self, liveness: Liveness, stage: str, clock: Callable[[], float]) -> None:
        self._liveness = liveness
        self.stage = stage
        self._clock = clock

    def expect(self, within: float, doing: str = "") -> None:
        self._liveness.expect(self.stage, self._clock(), within, doing)

    def idle(self) -> None:
        self._liveness.idle(self.stage)

    def forget(self) -> None:
        self._liveness.forget(self.stage)


class NullProbe(StageProbe):
    """A probe that reports nowhere (stages constructed outside an agent, e.g. in tests)."""

    def __init__(self) -> None:
        super().__init__(Liveness(0.0), "", lambda: 0.0)

    def expect(self, within: float, doing: str = "") -> None:
        pass

    def idle(self) -> None:
        pass

    def forget(self) -> None:
        pass
