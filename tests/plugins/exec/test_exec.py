"""The exec plugin with real subprocesses: formats, no shell by default, timeouts, output limits, failures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from edge_agent import ByteSize, Duration, Signal
from edge_agent.testing import RecordingContext
from edge_agent_plugins.exec import ExecConfig, ExecScraper

PY = sys.executable


async def _scrape(tmp_path: Path, **config: object) -> tuple[RecordingContext, dict[str, object]]:
    ctx = RecordingContext(tmp_path / "s.cbor", name="exec")
    for fragment in await ExecScraper(ExecConfig(**config)).scrape(ctx):  # type: ignore[arg-type]
        await ctx.emit(fragment)
    metrics = {}
    for message in ctx.decoded(Signal.METRICS):
        for metric in message.resource_metrics[0].scope_metrics[0].metrics:
            metrics[metric.name] = metric
    return ctx, metrics


async def test_prometheus_output(tmp_path: Path) -> None:
    """A command printing Prometheus text becomes OTLP metrics."""
    script = "print('# TYPE jobs_total counter\\njobs_total{q=\"a\"} 4\\ntemp 21.5')"
    _, metrics = await _scrape(tmp_path, command=(PY, "-c", script))
    assert metrics["jobs_total"].sum.data_points[0].as_int == 4  # type: ignore[attr-defined]
    assert metrics["temp"].gauge.data_points[0].as_double == 21.5  # type: ignore[attr-defined]


async def test_json_and_influx_output(tmp_path: Path) -> None:
    """JSON and Influx line protocol outputs are parsed per their formats."""
    json_script = 'print(\'{"metrics": [{"name": "queue", "value": 3, "type": "updowncounter"}]}\')'
    _, metrics = await _scrape(tmp_path, command=(PY, "-c", json_script), format="json")
    assert not metrics["queue"].sum.is_monotonic  # type: ignore[attr-defined]
    _, metrics = await _scrape(
        tmp_path, command=(PY, "-c", "print('net,if=eth0 rx=5i,tx=7i')"), format="influx"
    )
    assert metrics["net.rx"].gauge.data_points[0].as_int == 5  # type: ignore[attr-defined]


async def test_arguments_are_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    """Without shell = true, shell syntax in arguments is passed literally."""
    marker = tmp_path / "pwned"
    script = "import sys; print('argv n=%di' % len(sys.argv))"
    _, metrics = await _scrape(tmp_path, command=(PY, "-c", script, f"; touch {marker}"), format="influx")
    assert not marker.exists()
    assert metrics["argv.n"].gauge.data_points[0].as_int == 2  # type: ignore[attr-defined]
    _, metrics = await _scrape(
        tmp_path, command=(f"echo 'x v=1' && touch {marker}",), shell=True, format="influx"
    )
    assert marker.exists() and "x.v" in metrics


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    """A command that outlives its timeout is killed (with its children) and counted."""
    started = time.monotonic()
    ctx, metrics = await _scrape(
        tmp_path, command=("/bin/sh", "-c", "sleep 30 & sleep 30"), timeout=Duration(0.3)
    )
    assert time.monotonic() - started < 5
    assert ctx.events["timeouts"] == 1 and not metrics


async def test_output_limit(tmp_path: Path) -> None:
    """Output beyond max_output kills the run, discards it and counts it."""
    script = "import sys\nwhile True: sys.stdout.write('x' * 65536)"
    ctx, metrics = await _scrape(tmp_path, command=(PY, "-c", script), max_output=ByteSize(100_000))
    assert ctx.events["output_too_large"] == 1 and not metrics


@pytest.mark.parametrize(
    ("command", "event"),
    [
        ((PY, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"), "command_failed"),
        (("/nonexistent/probe",), "command_failed"),
        ((PY, "-c", "print('<html>no</html>')"), "parse_errors"),
    ],
)
async def test_failures_are_counted_not_raised(tmp_path: Path, command: tuple[str, ...], event: str) -> None:
    """Non-zero exit, a missing binary and unparsable output are counted; the scrape returns nothing."""
    ctx, metrics = await _scrape(tmp_path, command=command)
    assert ctx.events[event] == 1 and not metrics


def test_shell_needs_a_single_command_line() -> None:
    """shell = true with an argv list is refused with an explanation."""
    with pytest.raises(ValueError, match="single string"):
        ExecConfig(command=("echo", "hi"), shell=True)
