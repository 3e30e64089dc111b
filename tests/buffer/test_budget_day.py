"""A day offline on a 4 MiB disk budget (virtual time, real files).

Host-metrics-like data (normal priority) and debug logs (bulk) are
collected every 10 s for 24 virtual hours with no upstream. The files must
never exceed the cap plus one segment, every record must end up either
delivered after reconnecting or counted as dropped (exactly), bulk must be
shed before normal data, and on reconnect the freshest data goes first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent.buffer.api import Batch
from edge_agent.buffer.disk import DiskBuffer
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.runtime.clock import VirtualWallClock
from tests.buffer.helpers import config, directory_bytes, instruments

CAP = 4 * 1024 * 1024
DAY = 24 * 3600.0
INTERVAL = 10.0
START_NS = 1_800_000_000 * 10**9
RESOURCE = attributes.resource({"host.name": "pi-17", "service.name": "edge-agent"})
SCOPE = attributes.scope("edge_agent.hostmetrics", "1.0.0")


def _metrics(rng: random.Random, now_ns: int) -> Fragment:
    b = MetricsBuilder(RESOURCE, SCOPE, time_ns=now_ns, start_time_ns=START_NS)
    for cpu in range(4):
        b.sum(
            "system.cpu.time",
            [
                ({"cpu": f"cpu{cpu}", "state": s}, rng.uniform(0, 1e5))
                for s in ("user", "system", "idle", "iowait")
            ],
            unit="s",
        )
    b.gauge(
        "system.memory.usage", [({"state": s}, rng.randrange(1 << 30)) for s in ("used", "free", "cached")]
    )
    for mount in ("/", "/boot", "/data"):
        b.gauge("system.filesystem.usage", [({"mountpoint": mount, "state": "used"}, rng.randrange(1 << 34))])
    for device in ("eth0", "wlan0"):
        for metric in ("system.network.io", "system.network.packets", "system.network.errors"):
            b.sum(
                metric,
                [
                    ({"device": device, "direction": d}, rng.randrange(1 << 40))
                    for d in ("receive", "transmit")
                ],
            )
    for disk in ("mmcblk0", "sda"):
        for metric in ("system.disk.io", "system.disk.operations", "system.disk.io_time"):
            b.sum(
                metric,
                [({"device": disk, "direction": d}, rng.randrange(1 << 40)) for d in ("read", "write")],
            )
    b.gauge("system.cpu.load_average.1m", rng.random() * 4)
    b.gauge("system.cpu.utilization", [({"cpu": f"cpu{c}"}, rng.random()) for c in range(4)])
    return b.build().with_priority(Priority.NORMAL)


def _logs(rng: random.Random, now_ns: int) -> Fragment:
    b = LogsBuilder(RESOURCE, attributes.scope("edge_agent.journald", "1"))
    for i in range(8):
        b.record(f"sensor {rng.randrange(64)} reading {rng.random():.6f} ok seq={i}", time_ns=now_ns + i)
    return b.build().with_priority(Priority.BULK)


@dataclass
class Tally:
    emitted: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(Priority, 0))
    delivered: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(Priority, 0))
    batches: list[Batch] = field(default_factory=list)
    max_disk: int = 0


async def _collect(
    buf: DiskBuffer, wall: VirtualWallClock, tally: Tally, until: float, directory: Path
) -> None:
    rng = random.Random(7)
    while trio.current_time() < until:
        for fragment in (_metrics(rng, wall.time_ns()), _logs(rng, wall.time_ns())):
            assert buf.offer(fragment), "offer must not be refused: commits keep memory low"
            assert fragment.priority is not None
            tally.emitted[fragment.priority] += fragment.records
        # Commit now, as the 1 s group commit would (one frame per scrape). Awaiting it keeps
        # virtual time honest: MockClock's autojump also fires while worker threads do real
        # I/O, and would otherwise race through many scrape intervals during one commit.
        await buf.commit()
        tally.max_disk = max(tally.max_disk, directory_bytes(directory))
        await trio.sleep(INTERVAL)


async def _export(buf: DiskBuffer, tally: Tally) -> None:
    while True:
        batch = await buf.next_batch(max_bytes=512 * 1024)
        tally.batches.append(batch)
        tally.delivered[batch.priority] += batch.records
        buf.ack(batch)
        await trio.sleep(0.2)  # a modest link: five requests a second


@pytest.mark.slow
async def test_a_day_offline_on_a_4_mib_budget(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Disk stays within cap + one segment; drops are exact and bulk goes first; fresh data first after."""
    inst = instruments()
    wall = VirtualWallClock(START_NS)
    # fsync is irrelevant to the budget; "never" keeps 8640 commits fast
    cfg = config(max_disk_bytes=CAP, fsync="never")
    buf = DiskBuffer(cfg, tmp_path, inst, wall_ns=wall.time_ns)
    tally = Tally()
    async with trio.open_nursery() as nursery:
        await nursery.start(buf.run)
        await _collect(buf, wall, tally, DAY, tmp_path)
        reconnect_ns = wall.time_ns()
        nursery.start_soon(_export, buf, tally)
        await _collect(buf, wall, tally, DAY + 600, tmp_path)  # ten more minutes, now online
        await buf.flush()
        await buf.wait_drained()
        nursery.cancel_scope.cancel()

    segment = cfg.effective_segment_bytes
    assert tally.max_disk <= CAP + segment, f"disk reached {tally.max_disk} bytes"
    dropped = {
        p: sum(
            v
            for labels, v in _samples(inst)
            if labels == ("logs" if p is Priority.BULK else "metrics", "disk_budget")
        )
        for p in (Priority.NORMAL, Priority.BULK)
    }
    assert inst.dropped.total() == dropped[Priority.NORMAL] + dropped[Priority.BULK], "only budget drops"
    for p in (Priority.NORMAL, Priority.BULK):
        assert tally.delivered[p] + dropped[p] == tally.emitted[p], (
            f"{p.name}: every record delivered or counted"
        )
    assert dropped[Priority.BULK] > 0.8 * tally.emitted[Priority.BULK] * (1 - 600 / DAY), "bulk is shed first"
    assert dropped[Priority.NORMAL] > 0, "a day of metrics does not fit 4 MiB: the oldest must go"
    assert tally.delivered[Priority.NORMAL] > 0.25 * tally.emitted[Priority.NORMAL] * 0.8

    first = tally.batches[0]
    assert first.signal is Signal.METRICS and first.priority is Priority.NORMAL
    assert first.first_ns >= reconnect_ns - int((cfg.fresh_window + 2 * INTERVAL) * 1e9), "fresh data first"
    backlog_starts = min(b.first_ns for b in tally.batches if b.priority is Priority.NORMAL)
    assert backlog_starts < first.first_ns - int(3600 * 1e9), "the backlog (hours old) came after"


def _samples(inst: object) -> list[tuple[tuple[str, str], float]]:
    counter = inst.dropped  # type: ignore[attr-defined]
    return [((s.labels["signal"], s.labels["reason"]), s.value) for s in counter.samples()]
