"""/metrics text is valid Prometheus exposition: checked with the real promtool."""

from __future__ import annotations

import subprocess

from edge_agent.admin.prometheus import metric_name, render
from edge_agent.runtime.instruments import AgentInstruments
from tests.peers import require


def _populated() -> str:
    inst = AgentInstruments.create()
    inst.pipeline.collected.inc(10, signal="metrics", plugin="hostmetrics")
    inst.dropped.inc(2, signal="logs", reason='quote"and\\backslash')
    inst.plugins.duration.observe(0.003, plugin="hostmetrics")
    inst.export.latency.observe(0.2, signal="metrics")
    return render(inst.registry.collect())


def test_names_follow_prometheus_conventions() -> None:
    """Counters end in _total, units become suffixes, dots become underscores."""
    text = _populated()
    assert 'edge_agent_records_collected_total{signal="metrics",plugin="hostmetrics"} 10' in text
    assert "# TYPE edge_agent_plugin_duration_seconds histogram" in text
    assert 'edge_agent_plugin_duration_seconds_bucket{plugin="hostmetrics",le="+Inf"} 1' in text
    assert 'reason="quote\\"and\\\\backslash"' in text
    assert "edge_agent_process_memory_rss_bytes " in text


def test_promtool_accepts_output() -> None:
    """promtool check metrics finds no errors in the exposition."""
    promtool = require("promtool")
    result = subprocess.run(
        [str(promtool), "check", "metrics"],
        input=_populated().encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    problems = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, problems


def test_metric_name_for_gauge_without_unit() -> None:
    """A dimensionless gauge keeps its plain name."""
    from edge_agent.runtime.telemetry import MetricSnapshot

    assert metric_name(MetricSnapshot("queue.depth", "gauge", "1", "", ())) == "edge_agent_queue_depth"
