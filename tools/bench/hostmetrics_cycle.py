"""One hostmetrics cycle: the agent's CPU per cycle vs the bare psutil calls it makes.

Run:  python tools/bench/hostmetrics_cycle.py [--rounds 60] [--repeats 20]

Both sides run in this process, interleaved round by round (the machine is
shared and noisy), and the ratio of the medians is reported:

* baseline: exactly the psutil calls one default hostmetrics scrape makes;
* agent: the plugin's scrape (same psutil calls + OTLP encoding into a
  fragment), the pipeline offer into a buffer, and the compression the disk
  buffer applies when it commits the fragment as a frame (gzip level 1, the
  default; the exporter sends such a frame as stored).

Target (issue 2): agent <= 1.5x baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _common import cpu_per_call, median

from edge_agent.buffer import codecs
from edge_agent.buffer.memory import MemoryBuffer
from edge_agent.otlp import attributes
from edge_agent.otlp.fragment import Priority
from edge_agent.runtime.clock import AgentClock
from edge_agent.runtime.context import RuntimeContext
from edge_agent.runtime.instruments import AgentInstruments
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.resource import host_resource
from edge_agent.runtime.state import CborStateStore
from edge_agent_plugins.hostmetrics import HostMetrics, HostMetricsConfig


def bare_psutil(config: HostMetricsConfig) -> None:
    """The psutil calls of one default scrape, results touched but not encoded."""
    psutil.cpu_times()
    os.getloadavg()
    psutil.virtual_memory()
    psutil.swap_memory()
    psutil.disk_io_counters(perdisk=True)
    for part in psutil.disk_partitions(all=False):
        if part.fstype not in config.exclude_fs_types:
            psutil.disk_usage(part.mountpoint)
    psutil.net_io_counters(pernic=True)
    psutil.sensors_temperatures()
    psutil.sensors_battery()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    config = HostMetricsConfig()
    plugin = HostMetrics(config)
    inst = AgentInstruments.create()
    # A small real memory buffer: once full it drops its oldest fragment per offer,
    # so its cost per cycle stays constant over thousands of cycles.
    buffer = MemoryBuffer(64 << 10, inst.dropped)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RuntimeContext(
            name="hostmetrics",
            priority=Priority.NORMAL,
            pipeline=Pipeline(buffer, inst.pipeline),
            state=CborStateStore(Path(tmp) / "s.cbor"),
            clock=AgentClock(),
            resource=attributes.resource(host_resource("bench-device", {})),
            scope=attributes.scope("edge_agent.hostmetrics", plugin.version),
            start_time_ns=1,
        )
        plugin.setup(ctx)
        sizes: list[int] = []

        def agent_cycle() -> None:
            (fragment,) = plugin.scrape(ctx)
            ctx.offer(fragment)
            codecs.compress("gzip", fragment.payload, codecs.FRAME_LEVEL["gzip"])
            sizes.append(fragment.records)

        base, ours, ratios = [], [], []
        for _ in range(args.rounds):
            b_round = cpu_per_call(lambda: bare_psutil(config), args.repeats)
            o_round = cpu_per_call(agent_cycle, args.repeats)
            base.append(b_round)
            ours.append(o_round)
            ratios.append(o_round / b_round)
    b, o = median(base), median(ours)
    print(f"data points per cycle: {sizes[-1]}")
    print(
        f"bare psutil calls : {b * 1e6:8.1f} us CPU per cycle (median of {args.rounds} rounds x {args.repeats})"
    )
    print(f"agent cycle       : {o * 1e6:8.1f} us CPU per cycle (scrape + encode + offer + frame gzip -1)")
    print(f"overhead          : {(o - b) * 1e6:8.1f} us CPU per cycle")
    print(f"ratio agent/bare  : {median(ratios):8.2f}x   (median of per-round ratios; target <= 1.5x)")


if __name__ == "__main__":
    main()
