"""What a scenario run produced, as numbers, and their printed form.

Per priority: records collected, delivered (raw-point equivalents, each
counted once), duplicates (at-least-once resends), undelivered (collected
minus delivered: dropped, or still held when the drain ended), and
freshness: the delay from collection to arrival upstream, p50/p99, over
all records and over records collected after each *reconnect* (the
agent's first delivery after an outage) while the link stays up, for at
most half an hour: fresh data then competes with the backlog; plus the
worst delay of the first record collected after a reconnect. How long the agent took to notice that the
link was back (link up -> first delivery) is reported separately.

Link and exporter: bytes that crossed the link, request attempts and failed
attempts (the exporter's own ``export.requests`` counter), connection
attempts while the link was down and the most of them in any 60 s, and the
predictor's verdicts checked against the link's true state. CPU: process
CPU time of the run, minus what the simulated upstream spent decoding,
in total and per simulated hour.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge_agent.simulation.links import LinkTrace

if TYPE_CHECKING:
    from edge_agent.runtime.agent import Agent
    from edge_agent.simulation.network import SimLink, SimUpstream
    from edge_agent.simulation.scenario import Scenario

AFTER_RECONNECT = 1800.0
PRIORITIES = ("critical", "normal", "bulk")
_OK = ("success", "partial")


@dataclass(frozen=True)
class PriorityReport:
    collected: int
    delivered: int
    duplicates: int
    undelivered: int
    p50: float | None
    p99: float | None
    reconnect_p50: float | None
    reconnect_p99: float | None
    first_fresh_after_reconnect: float | None  # worst delay of the first record collected after one


@dataclass(frozen=True)
class SimReport:
    scenario: str
    simulated_s: float
    predictor: bool
    priorities: dict[str, PriorityReport]
    dropped: dict[str, int]  # reason -> records
    downsampled: int
    bytes_on_link: int
    attempts: int
    failed_attempts: int
    connects_while_down: int
    max_connects_per_minute_down: int
    outage_hours: float
    transfers_cut: int
    reconnect_lag_max: float | None  # link up -> first delivery, worst outage
    reconnect_lag_mean: float | None
    skips: int
    skip_precision: float | None
    brier: float | None
    transitions: dict[str, int]
    cpu_s: float
    upstream_cpu_s: float
    real_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_cpu_s(self) -> float:
        return max(0.0, self.cpu_s - self.upstream_cpu_s)

    @property
    def agent_cpu_per_hour_s(self) -> float:
        return self.agent_cpu_s / (self.simulated_s / 3600.0)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _reconnects(trace: LinkTrace, duration: float, arrivals: list[float]) -> list[tuple[float, float, float]]:
    """``(link up, first delivery after it, link down again)`` for every outage that ended."""
    out = []
    for up, down in trace.up_intervals(duration):
        i = bisect.bisect_left(arrivals, up)
        if up > 0 and i < len(arrivals) and arrivals[i] < down:
            out.append((up, arrivals[i], down))
    return out


def _priority_report(collected: int, tally: Any, reconnects: list[tuple[float, float]]) -> PriorityReport:
    """``reconnects``: ``(first delivery, link down again)``: data collected in between (at most
    AFTER_RECONNECT) is the fresh data that competes with the backlog."""
    delays = sorted(d for _, d in tally.delays) if tally else []
    by_time = sorted(tally.delays) if tally else []
    times = [t for t, _ in by_time]
    after: list[float] = []
    first_fresh: float | None = None
    for r, down in reconnects:
        lo, hi = bisect.bisect_left(times, r), bisect.bisect_left(times, min(down, r + AFTER_RECONNECT))
        window = by_time[lo:hi]
        after.extend(d for _, d in window)
        if window:
            first_fresh = window[0][1] if first_fresh is None else max(first_fresh, window[0][1])
    after.sort()
    delivered = tally.represented if tally else 0
    return PriorityReport(
        collected=collected,
        delivered=delivered,
        duplicates=tally.duplicates if tally else 0,
        undelivered=max(0, collected - delivered),
        p50=percentile(delays, 0.5),
        p99=percentile(delays, 0.99),
        reconnect_p50=percentile(after, 0.5),
        reconnect_p99=percentile(after, 0.99),
        first_fresh_after_reconnect=first_fresh,
    )


def _collected_by_priority(agent: Agent) -> dict[str, int]:
    priority_of = {
        inst.name: (inst.priority.name.lower() if inst.priority is not None else "normal")
        for inst in agent.config.plugins
    }
    out: dict[str, int] = {}
    for sample in agent.instruments.pipeline.collected.samples():
        priority = priority_of.get(sample.labels["plugin"], "self")
        out[priority] = out.get(priority, 0) + int(sample.value)
    return out


def _max_per_window(times: list[float], window: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def build_report(
    scenario: Scenario,
    agent: Agent,
    link: SimLink,
    upstream: SimUpstream,
    verdicts: list[tuple[str, bool]],
    *,
    collected_at_end: int,
    cpu_seconds: float,
    real_seconds: float,
) -> SimReport:
    duration = scenario.sim.duration
    reconnects = _reconnects(link.trace, duration, upstream.arrivals)
    collected = _collected_by_priority(agent)
    priorities = {
        p: _priority_report(collected.get(p, 0), upstream.tallies.get(p), [(b, d) for _, b, d in reconnects])
        for p in PRIORITIES
        if collected.get(p, 0) or p in upstream.tallies
    }
    skips = [up for kind, up in verdicts if kind == "skip"]
    return SimReport(
        scenario=scenario.name,
        simulated_s=duration,
        predictor=scenario.config.adaptive.predictor.enabled,
        priorities=priorities,
        **_agent_numbers(agent),
        **_link_numbers(link, duration, reconnects),
        skips=len(skips),
        skip_precision=(sum(not up for up in skips) / len(skips)) if skips else None,
        brier=agent.adaptive.gate.scorecard.brier(),
        cpu_s=cpu_seconds,
        upstream_cpu_s=upstream.cpu_seconds,
        real_s=real_seconds,
        extra={"collected_at_end": collected_at_end, "requests_upstream": upstream.requests},
    )


def _agent_numbers(agent: Agent) -> dict[str, Any]:
    """What the agent's own self-metrics say: attempts, drops, folded points, mode transitions."""
    requests = agent.instruments.export.requests.samples()
    dropped: dict[str, int] = {}
    for sample in agent.instruments.dropped.samples():
        reason = sample.labels["reason"]
        dropped[reason] = dropped.get(reason, 0) + int(sample.value)
    return {
        "attempts": int(sum(s.value for s in requests)),
        "failed_attempts": int(sum(s.value for s in requests if s.labels["outcome"] not in _OK)),
        "dropped": dropped,
        "downsampled": int(agent.adaptive.instruments.downsampled.total()),
        "transitions": {
            f"{s.labels['from']}->{s.labels['to']}": int(s.value)
            for s in agent.adaptive.instruments.transitions.samples()
        },
    }


def _link_numbers(
    link: SimLink, duration: float, reconnects: list[tuple[float, float, float]]
) -> dict[str, Any]:
    lags = [back - up for up, back, _ in reconnects]
    refused = link.counters.refused_connects
    return {
        "bytes_on_link": link.counters.bytes_sent,
        "transfers_cut": link.counters.transfers_cut,
        "connects_while_down": len(refused),
        "max_connects_per_minute_down": _max_per_window(refused, 60.0),
        "outage_hours": sum(end - start for start, end in _down_spans(link.trace, duration)) / 3600.0,
        "reconnect_lag_max": max(lags, default=None),
        "reconnect_lag_mean": sum(lags) / len(lags) if lags else None,
    }


def _down_spans(trace: LinkTrace, duration: float) -> list[tuple[float, float]]:
    spans, t = [], 0.0
    for start, end in trace.up_intervals(duration):
        if start > t:
            spans.append((t, start))
        t = end
    if t < duration:
        spans.append((t, duration))
    return spans


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.1f}s"
    if value < 3600:
        return f"{value:.0f}s"
    return f"{value / 3600:.1f}h"


def format_report(report: SimReport) -> str:
    """A human-readable block for one scenario run."""
    lines = [
        f"== {report.scenario} ({report.simulated_s / 3600:g} h simulated, predictor "
        f"{'on' if report.predictor else 'off'}; {report.real_s:.1f} s real)",
        f"{'priority':<9} {'collected':>9} {'delivered':>9} {'dup':>5} {'undeliv.':>8} "
        f"{'p50':>6} {'p99':>6} {'rc p50':>6} {'rc p99':>6} {'rc first':>9}",
    ]
    for name, p in report.priorities.items():
        lines.append(
            f"{name:<9} {p.collected:>9} {p.delivered:>9} {p.duplicates:>5} {p.undelivered:>8} "
            f"{_fmt_s(p.p50):>6} {_fmt_s(p.p99):>6} {_fmt_s(p.reconnect_p50):>6} "
            f"{_fmt_s(p.reconnect_p99):>6} {_fmt_s(p.first_fresh_after_reconnect):>9}"
        )
    drops = ", ".join(f"{k}={v}" for k, v in sorted(report.dropped.items())) or "none"
    precision = "-" if report.skip_precision is None else f"{report.skip_precision:.0%}"
    brier = "-" if report.brier is None else f"{report.brier:.3f}"
    modes = ", ".join(f"{k} x{v}" for k, v in sorted(report.transitions.items())) or "normal throughout"
    lines += [
        f"dropped: {drops}; downsampled away: {report.downsampled} points",
        f"link: {report.bytes_on_link / 1e6:.2f} MB sent ({report.transfers_cut} transfers cut); export "
        f"attempts {report.attempts}, failed {report.failed_attempts}; connects while down "
        f"{report.connects_while_down} over {report.outage_hours:.1f} h (max "
        f"{report.max_connects_per_minute_down}/min); link back -> first delivery "
        f"{_fmt_s(report.reconnect_lag_mean)} mean, {_fmt_s(report.reconnect_lag_max)} max",
        f"predictor: {report.skips} attempts skipped, skip precision {precision} (true link state), "
        f"Brier {brier}",
        f"modes: {modes}",
        f"agent CPU: {report.agent_cpu_s:.2f} s ({report.agent_cpu_per_hour_s:.3f} s per simulated hour; "
        f"process {report.cpu_s:.2f} s minus simulated upstream {report.upstream_cpu_s:.2f} s)",
    ]
    return "\n".join(lines)
