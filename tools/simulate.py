"""Run simulator scenarios: the real agent in virtual time against link traces.

    python tools/simulate.py                          # every scenario in tools/scenarios/
    python tools/simulate.py tools/scenarios/flapping.toml --compare-predictor
    python tools/simulate.py tools/scenarios/nightly_outage.toml --duration 16h --seed 2

Each scenario prints data delivered/undelivered per priority, freshness
(p50/p99 delay from collection to upstream, overall and in the half hour
after each reconnect), bytes on the link, export attempts and failed
attempts, connection attempts while the link was down, the predictor's
skips, mode transitions and the agent's CPU time. ``--compare-predictor``
runs each scenario a second time with the link predictor off (plain
backoff and circuit breaker) and prints the failed-attempt reduction.
See docs/performance.md ("Adaptive scheduling") and docs/degradation.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import trio
import trio.testing

from edge_agent.config.units import parse_duration
from edge_agent.errors import ConfigError
from edge_agent.simulation.report import SimReport, format_report
from edge_agent.simulation.run import simulate
from edge_agent.simulation.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).parent / "scenarios"


def _adjust(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    sim = scenario.sim
    if args.duration:
        sim = dataclasses.replace(sim, duration=parse_duration(args.duration))
    if args.seed is not None:
        sim = dataclasses.replace(sim, seed=args.seed)
    scenario = dataclasses.replace(scenario, sim=sim)
    if args.no_adaptive:
        scenario = scenario.with_agent(adaptive=dataclasses.replace(scenario.config.adaptive, enabled=False))
    return scenario


def without_predictor(scenario: Scenario) -> Scenario:
    adaptive = scenario.config.adaptive
    predictor = dataclasses.replace(adaptive.predictor, enabled=False)
    return scenario.with_agent(adaptive=dataclasses.replace(adaptive, predictor=predictor))


def run(scenario: Scenario) -> SimReport:
    return trio.run(simulate, scenario, clock=trio.testing.MockClock(autojump_threshold=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios", nargs="*", type=Path, help="scenario files (default: tools/scenarios/*.toml)"
    )
    parser.add_argument("--compare-predictor", action="store_true", help="also run with the predictor off")
    parser.add_argument(
        "--no-adaptive", action="store_true", help="adaptive.enabled = false (fixed intervals)"
    )
    parser.add_argument("--duration", help="override the simulated duration, e.g. 2h")
    parser.add_argument("--seed", type=int, help="override the scenario's seed")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the agent's warnings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL, format="%(message)s")
    paths = args.scenarios or sorted(SCENARIOS.glob("*.toml"))
    for path in paths:
        try:
            scenario = _adjust(load_scenario(path), args)
        except ConfigError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
        report = run(scenario)
        print(format_report(report))
        if args.compare_predictor:
            baseline = run(without_predictor(scenario))
            print(format_report(baseline))
            saved = 1 - report.failed_attempts / baseline.failed_attempts if baseline.failed_attempts else 0.0
            print(
                f"predictor: {report.failed_attempts} failed attempts vs {baseline.failed_attempts} with plain "
                f"backoff ({saved:.0%} fewer); delivered {sum(p.delivered for p in report.priorities.values())} "
                f"vs {sum(p.delivered for p in baseline.priorities.values())} records"
            )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
