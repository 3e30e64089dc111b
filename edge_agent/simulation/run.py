"""Running a scenario: the real agent, in virtual time, against a simulated link.

Theory of operation. :func:`simulate` builds an ordinary
:class:`~edge_agent.runtime.agent.Agent` from the scenario's config (the
real scheduler and adaptive controller, the real buffer, the real exporter
with its retry, breaker and concurrency policies) and swaps only the
outside world: the link (:mod:`~edge_agent.simulation.network`), the
plugins' data (:mod:`~edge_agent.simulation.workload`), the device's
pressure signals, and the wall clock (virtual, from the scenario's start).

It must run under ``trio.testing.MockClock(autojump_threshold=0)``, so a
day passes in seconds. Work the agent sends to worker threads (disk
writes, compression of large bodies) runs inline instead
(:func:`inline_worker_threads`): with autojump, a real thread would let
virtual time race ahead of it, and results would depend on the machine.
Everything random is seeded from the scenario (trio's scheduling order
included), so a scenario and seed give the same numbers every run.

At ``duration`` the link is forced up and the agent gets up to ``drain``
seconds to deliver its backlog (collection goes on); then it is stopped
like an orderly shutdown, which delivers the rest. The report
(:mod:`~edge_agent.simulation.report`) is built from what the simulated
upstream counted, the link's counters and the agent's own self-metrics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import trio

from edge_agent.adaptive.controller import utc_wall_time
from edge_agent.adaptive.gate import Verdict, WallTime
from edge_agent.adaptive.sampler import HostReading
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.clock import VirtualWallClock
from edge_agent.simulation.links import LinkTrace
from edge_agent.simulation.network import SimLink, SimUpstream
from edge_agent.simulation.report import SimReport, build_report
from edge_agent.simulation.scenario import Scenario
from edge_agent.simulation.workload import simulation_registry


@contextlib.contextmanager
def inline_worker_threads() -> Iterator[None]:
    """Run ``trio.to_thread.run_sync`` calls inline (deterministic virtual time); restores on exit."""
    original = trio.to_thread.run_sync

    async def run_inline(fn: Callable[..., Any], *args: Any, **_options: Any) -> Any:
        await trio.lowlevel.checkpoint()
        return fn(*args)

    trio.to_thread.run_sync = run_inline  # type: ignore[assignment]
    try:
        yield
    finally:
        trio.to_thread.run_sync = original


def _seed_trio_scheduler(seed: int) -> None:
    # trio randomises the order of tasks that became runnable together; seeding its
    # private generator makes a simulation reproducible (simulator only, never the agent)
    from trio._core import _run

    _run._r.seed(seed)


@dataclasses.dataclass
class SkipLedger:
    """Every verdict of the predictor's gate, with the link's true state at that moment."""

    verdicts: list[tuple[str, bool]] = dataclasses.field(default_factory=list)  # (kind, link up)


def _watch_gate(agent: Agent, link: SimLink, ledger: SkipLedger) -> None:
    gate = agent.adaptive.gate
    check = gate.check

    def recording_check(now: float, wall: WallTime) -> Verdict:
        verdict = check(now, wall)
        ledger.verdicts.append((verdict.kind, link.is_up()))
        return verdict

    gate.check = recording_check  # type: ignore[method-assign]


async def simulate(scenario: Scenario, *, state_dir: Path | None = None) -> SimReport:
    """Run ``scenario`` to the end of its drain phase; see the module docstring."""
    if state_dir is None:
        with tempfile.TemporaryDirectory(prefix="edge-agent-sim-") as tmp:
            return await simulate(scenario, state_dir=Path(tmp))
    _seed_trio_scheduler(scenario.sim.seed)
    clock = VirtualWallClock(scenario.start_ns)
    start = trio.current_time()
    upstream = SimUpstream(clock.time_ns, scenario.start_ns)
    trace = LinkTrace(scenario.link, start_hour=scenario.start_hour)
    link = SimLink(trace, upstream=upstream, start=start, seed=scenario.sim.seed)
    ledger = SkipLedger()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    with inline_worker_threads():
        agent = _new_agent(scenario, state_dir, clock, link, start)
        _watch_gate(agent, link, ledger)
        stopped = trio.Event()

        async def run_agent(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await agent.run(task_status=task_status)
            stopped.set()

        async with trio.open_nursery() as nursery:
            link.nursery = nursery
            await nursery.start(run_agent)
            await trio.sleep_until(start + scenario.sim.duration)
            collected = agent.accounting()["collected"]
            await _drain(agent, link, start + scenario.sim.duration + scenario.sim.drain)
            agent.request_stop()
            await stopped.wait()
            nursery.cancel_scope.cancel()  # idle keep-alive connections to the upstream
    return build_report(
        scenario,
        agent,
        link,
        upstream,
        ledger.verdicts,
        collected_at_end=collected,
        cpu_seconds=time.process_time() - cpu_started,
        real_seconds=time.perf_counter() - wall_started,
    )


def _new_agent(
    scenario: Scenario, state_dir: Path, clock: VirtualWallClock, link: SimLink, start: float
) -> Agent:
    """The real agent with the simulated world plugged in: link, workload, host signals, clock."""
    host = scenario.host

    async def read_host() -> HostReading:
        await trio.lowlevel.checkpoint()
        return host.reading(trio.current_time() - start)

    config = dataclasses.replace(
        scenario.config, agent=dataclasses.replace(scenario.config.agent, shutdown_grace=scenario.sim.drain)
    )
    agent = Agent(
        config,
        simulation_registry(),
        state_dir=state_dir,
        clock=clock,
        connect=link.connect,
        host_reader=read_host,
        rng=random.Random(scenario.sim.seed),
    )
    agent.adaptive.wall_clock = _utc
    return agent


async def _drain(agent: Agent, link: SimLink, deadline: float) -> None:
    """Keep the link up until everything queued was delivered (or the deadline): collection goes on
    meanwhile, and the final stop delivers the last seconds of it."""
    link.forced_up = True
    while trio.current_time() < deadline:
        totals = agent.accounting()
        if totals["queued"] + totals["held"] == 0:
            return
        await trio.sleep(10.0)


def _utc(time_ns: int) -> WallTime:
    return utc_wall_time(time_ns)
