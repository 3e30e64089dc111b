"""Cost of each processor against the no-processor (bytes-only) pipeline path, in one run.

Run:  python tools/bench/processors.py [--rounds 7] [--repeats 10]

Workloads are realistic fragments built with the agent's own builders: 512
log lines (about one in ten carries an e-mail, an IP or a token), 128
metric data points, 256 spans. Each case offers the same fragment through a
real :class:`~edge_agent.runtime.pipeline.Pipeline` into a writer that keeps
nothing, so what is measured is the pipeline and its processors. Cases are
interleaved round by round (shared, noisy cores) and the medians reported,
with the ratio to the no-processor baseline measured in the same rounds.

It also reports the hook's cost on the bytes-only path (no processors
configured, and processors configured that do not select the plugin), the
retained memory of that path over 200k offers (tracemalloc), and RSS before
and after 3000 runs of the full chain (a message reused across parses would
grow it; fresh messages do not).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import cpu_per_call, median, proc_rss_bytes

from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.chain import ProcessorChain, Selection
from edge_agent.processors.config import (
    AttributesConfig,
    FilterConfig,
    ProcessorInstanceConfig,
    RedactConfig,
    ResourceConfig,
)
from edge_agent.processors.factory import build_chain
from edge_agent.processors.stage import ProcessorCounters, ProcessorStage
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline


class NullWriter:
    def offer(self, fragment: Fragment) -> bool:
        return True

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:  # pragma: no cover
        return None


def workloads() -> dict[str, Fragment]:
    resource = attributes.resource({"service.name": "bench", "host.name": "pi-7", "site": "x"})
    scope = attributes.scope("bench", "1")
    logs = LogsBuilder(resource, scope)
    for i in range(512):
        extra = ""
        if i % 10 == 0:
            extra = f" user=u{i}@example.com from 10.1.{i % 250}.7"
        elif i % 10 == 5:
            extra = " Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
        logs.record(
            f"2026-11-27T10:00:{i % 60:02d}Z GET /api/v1/items/{i} 200 {i % 97}ms{extra}",
            time_ns=1_700_000_000_000_000_000 + i,
            severity=5 if i % 4 == 0 else 9,
            attributes={"log.file.name": "app.log", "http.route": "/api/v1/items", "thread": f"w{i % 8}"},
        )
    metrics = MetricsBuilder(resource, scope, time_ns=1_700_000_000_000_000_000)
    for m in range(16):
        metrics.gauge(
            f"system.metric{m}", [({"device": f"d{p}", "state": "used"}, float(p)) for p in range(8)]
        )
    traces = TracesBuilder(resource, scope)
    for i in range(256):
        traces.span(
            "GET /api/v1/items" if i % 2 else "SELECT items",
            trace_id=i.to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            start_ns=1,
            end_ns=2,
            attributes={"http.route": "/api/v1/items", "db.system": "sqlite", "net.peer.ip": "10.0.0.9"},
        )
    return {"logs": logs.build(), "metrics": metrics.build(), "traces": traces.build()}


def _inst(
    name: str, type_name: str, settings: object, plugins: tuple[str, ...] = ("*",)
) -> ProcessorInstanceConfig:
    return ProcessorInstanceConfig(name=name, type=type_name, plugins=plugins, settings=settings)


FLOOR = "(floor: parse + serialize, no processing)"


def cases(key_file: str) -> dict[str, tuple[ProcessorInstanceConfig, ...]]:
    redact_all = RedactConfig(presets=("all",))
    return {
        "no processors": (),
        "configured, plugin not selected": (_inst("r", "redact", redact_all, ("other",)),),
        "redact keys only": (
            _inst("r", "redact", RedactConfig(keys=("*password*", "user.*", "net.peer.ip"))),
        ),
        "redact presets pii": (_inst("r", "redact", RedactConfig(presets=("pii",))),),
        "redact presets all": (_inst("r", "redact", redact_all),),
        "redact all, hash": (
            _inst(
                "r",
                "redact",
                RedactConfig(presets=("all",), action="hash", hash_key_file=key_file or "/unused"),
            ),
        ),
        "filter severity (drops 1/4 of logs)": (_inst("f", "filter", FilterConfig(severity_max="debug4")),),
        "filter metric names (drops 1/4)": (
            _inst("f", "filter", FilterConfig(metric_names=("system.metric1", "system.metric1?"))),
        ),
        "filter attributes": (_inst("f", "filter", FilterConfig(attributes={"http.route": "/health*"})),),
        "attributes set 2": (
            _inst("a", "attributes", AttributesConfig(set={"env": "prod", "team": "edge"})),
        ),
        "resource set 1": (_inst("s", "resource", ResourceConfig(set={"site": "plant-3"})),),
        "all four (redact all + filter + attributes + resource)": (
            _inst("r", "redact", redact_all),
            _inst("f", "filter", FilterConfig(severity_max="debug4")),
            _inst("a", "attributes", AttributesConfig(set={"env": "prod"})),
            _inst("s", "resource", ResourceConfig(set={"site": "plant-3"})),
        ),
    }


class Touch:
    """Marks every fragment changed and does nothing else: the floor cost of parse + serialize."""

    name = "touch"

    def supports(self, signal: Signal) -> bool:
        return True

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        tally.changed = True


def pipeline_for(configs: tuple[ProcessorInstanceConfig, ...] | str) -> Pipeline:
    instruments = AgentInstruments.create()
    if configs == "touch":
        chain: ProcessorChain | None = ProcessorChain([(Touch(), Selection())])
    else:
        assert not isinstance(configs, str)
        chain = build_chain(configs, environ={}, agent_attributes={})
    stage = None
    if chain is not None:
        stage = ProcessorStage(chain, ProcessorCounters.register(instruments.registry, instruments.dropped))
    return Pipeline(NullWriter(), instruments.pipeline, stage)


def offer_cost(pipeline: Pipeline, fragment: Fragment, repeats: int) -> float:
    return cpu_per_call(lambda: pipeline.offer(fragment, plugin="app", priority=Priority.NORMAL), repeats)


def bytes_only_path(fragment: Fragment) -> None:
    """ns per offer on the path without processing, and memory it retains."""
    fragment = fragment.with_priority(Priority.NORMAL)
    for label, configs in (
        ("no processors", ()),
        ("configured, not selected", cases("")["configured, plugin not selected"]),
    ):
        pipeline = pipeline_for(configs)
        costs = [offer_cost(pipeline, fragment, 20000) for _ in range(7)]
        gc.collect()
        tracemalloc.start()
        pipeline.offer(fragment, plugin="app", priority=Priority.NORMAL)  # warm (caches, counter keys)
        tracemalloc.reset_peak()
        current = tracemalloc.get_traced_memory()[0]
        pipeline.offer(fragment, plugin="app", priority=Priority.NORMAL)
        transient = tracemalloc.get_traced_memory()[1] - current
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200_000):
            pipeline.offer(fragment, plugin="app", priority=Priority.NORMAL)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        print(
            f"| bytes-only path, {label} | {median(costs) * 1e9:.0f} ns per offer | "
            f"{transient} B peak during one offer | {retained} B retained after 200k |"
        )


def rss_check(fragment: Fragment, key_file: str) -> None:
    configs = cases(key_file)["all four (redact all + filter + attributes + resource)"]
    chain = build_chain(configs, environ={}, agent_attributes={})
    assert isinstance(chain, ProcessorChain)
    route = chain.route("app", fragment.signal)
    for _ in range(200):
        chain.run(fragment, route)
    gc.collect()
    before = proc_rss_bytes(os.getpid())
    for _ in range(3000):
        chain.run(fragment, route)
    gc.collect()
    after = proc_rss_bytes(os.getpid())
    print(
        f"\nRSS over 3000 full-chain runs on the logs fragment: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    key_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-hash-{os.getpid()}.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    try:
        run(args.rounds, args.repeats, str(key_file))
    finally:
        key_file.unlink()


def run(rounds: int, repeats: int, key_file: str) -> None:
    fragments = workloads()
    all_cases = cases(key_file)
    pipelines = {name: pipeline_for(configs) for name, configs in all_cases.items()}
    pipelines[FLOOR] = pipeline_for("touch")
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for signal, fragment in fragments.items():
            for name, pipeline in pipelines.items():
                samples.setdefault((signal, name), []).append(offer_cost(pipeline, fragment, repeats))
    for signal, fragment in fragments.items():
        base = median(samples[(signal, "no processors")])
        print(f"\n{signal}: {fragment.records} records, {len(fragment.payload)} bytes per fragment")
        print("| case | per fragment | per record | ratio to no processors |")
        print("|---|---|---|---|")
        for name in [*all_cases, FLOOR]:
            cost = median(samples[(signal, name)])
            print(
                f"| {name} | {cost * 1e6:.1f} µs | {cost / fragment.records * 1e9:.0f} ns | {cost / base:.0f}x |"
            )
    print()
    bytes_only_path(fragments["logs"])
    rss_check(fragments["logs"], key_file)


if __name__ == "__main__":
    main()
