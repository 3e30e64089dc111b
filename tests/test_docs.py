"""Code in the docs runs: the plugin-authoring example loads from a plugin directory and scrapes."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from edge_agent.config.load import load_config
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink

DOCS = Path(__file__).parent.parent / "docs"


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


async def test_plugin_authoring_example_runs(tmp_path: Path) -> None:
    """The minimal scraper in plugin-authoring.md is a working plugin."""
    code = _python_blocks((DOCS / "plugin-authoring.md").read_text())[0]
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "uptime_file.py").write_text(code)
    sets = [
        f"agent.plugin_dirs=['{plugin_dir}']",
        f"agent.state_dir={tmp_path / 'state'}",
        "admin.enabled=false",
        "self_telemetry.enabled=false",
        "plugins.hostmetrics.enabled=false",
        "plugins.uptime_file.interval=100ms",
    ]
    sink = OtlpSink()
    async with trio.open_nursery() as outer:
        await outer.start(sink.serve)
        loaded = load_config(
            main_path=None,
            environ={},
            cli_sets=[*sets, f"exporter.endpoint={sink.endpoint}"],
            plugin_types=PluginRegistry.for_config,
        )
        agent = Agent(
            loaded.config,
            PluginRegistry.for_config(loaded.config.agent.plugin_dirs),
            state_dir=tmp_path / "state",
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            with trio.fail_after(10):
                await sink.wait_for(Signal.METRICS, 1)
            agent.request_stop()
        outer.cancel_scope.cancel()
    assert sink.metric_names["system.uptime"] >= 1
