"""The example plugin, run by the real agent: config validation, gauges, peaks persisted, failures logged once."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.lowlevel

from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink


def _load(tmp_path: Path, sink: str, temp: Path) -> object:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\nshutdown_grace = "1s"\n'
        f"[admin]\nenabled = false\n[self_telemetry]\nenabled = false\n"
        f'[exporter]\nendpoint = "{sink}"\n'
        f"[plugins.hostmetrics]\nenabled = false\n"
        f'[plugins.temp]\ntype = "file_gauge"\ninterval = "100ms"\nscale = 0.001\nunit = "Cel"\n'
        f'files = {{ cpu_temp = "{temp}" }}\n'
    )
    return load_config(main_path=config, environ={}, plugin_types=PluginRegistry.for_config)


async def _run_until(agent: Agent, sink: OtlpSink, predicate: object) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        with trio.fail_after(10):
            while not predicate():  # type: ignore[operator]
                await trio.sleep(0.05)
        agent.request_stop()


def _gauges(sink: OtlpSink) -> list[tuple[str, float]]:
    out = []
    for req in sink.requests:
        for rm in req.message.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.append((m.name, m.gauge.data_points[0].as_double))
    return out


async def test_reads_scales_and_persists_peak(tmp_path: Path) -> None:
    """Values are scaled, the peak survives a restart, and an unreadable file is reported once."""
    temp = tmp_path / "temp"
    temp.write_text("61500\n")
    sink = OtlpSink()
    async with trio.open_nursery() as outer:
        await outer.start(sink.serve)
        loaded = _load(tmp_path, sink.endpoint, temp)
        agent = Agent(loaded.config, PluginRegistry.for_config(()), state_dir=tmp_path / "state")  # type: ignore[attr-defined]
        await _run_until(agent, sink, lambda: ("device.cpu_temp.peak", 61.5) in _gauges(sink))
        assert ("device.cpu_temp", 61.5) in _gauges(sink)

        # a restart with a lower reading still reports the stored peak
        temp.write_text("40000\n")
        sink.requests.clear()
        agent = Agent(loaded.config, PluginRegistry.for_config(()), state_dir=tmp_path / "state")  # type: ignore[attr-defined]
        await _run_until(agent, sink, lambda: ("device.cpu_temp", 40.0) in _gauges(sink))
        assert ("device.cpu_temp.peak", 61.5) in _gauges(sink)

        # the file disappears: one warning log record, not one per scrape
        temp.unlink()
        await trio.lowlevel.checkpoint()
        before = sink.records[Signal.LOGS]
        agent = Agent(loaded.config, PluginRegistry.for_config(()), state_dir=tmp_path / "state")  # type: ignore[attr-defined]
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            await trio.sleep(1.0)
            agent.request_stop()
        outer.cancel_scope.cancel()
    assert sink.records[Signal.LOGS] - before == 1
    assert agent.plugin_statuses[0].runs >= 5


def test_empty_files_table_is_refused(tmp_path: Path) -> None:
    """A file_gauge instance without files is a config error that says what to write."""
    with pytest.raises(
        ConfigError, match=r"plugins\.temp\.files: required key is missing \(gauge name suffix"
    ):
        load_config(
            main_path=None,
            environ={},
            cli_sets=["plugins.temp.type=file_gauge"],
            plugin_types=PluginRegistry.for_config,
        )
    config = tmp_path / "a.toml"
    config.write_text('[plugins.temp]\ntype = "file_gauge"\nfiles = {}\n')
    with pytest.raises(ConfigError, match=r"plugins\.temp\.files: name at least one file.*a\.toml:3"):
        load_config(main_path=config, environ={}, plugin_types=PluginRegistry.for_config)
