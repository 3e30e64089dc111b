"""Processors in a running agent: applied to plugin data, swapped by reconfigure, refused when unsafe."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from edge_agent.errors import ConfigError
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink
from tests.agent_harness import agent_toml, load_text, log_records, memory_connector, poll_until

PLUGIN = '\n[plugins.app]\ntype = "aseqlogs"\ninterval = "1s"\nrecords = 4\ntag = "secret-tag"\n'
SCRUB = '\n[processors.scrub]\ntype = "redact"\nkeys = ["tag"]\nplugins = ["app"]\n'
SITE = '\n[processors.site]\ntype = "attributes"\nset = { "site" = "plant-3" }\n'


async def _start(tmp_path: Path, nursery: trio.Nursery, sink: OtlpSink, body: str) -> Agent:
    state = tmp_path / "state"
    loaded = load_text(tmp_path / "agent.toml", agent_toml(state, body))
    registry = PluginRegistry.for_config(loaded.config.agent.plugin_dirs)
    agent = Agent(
        loaded.config, registry, state_dir=state, connect=memory_connector(sink, nursery), environ={}
    )
    await nursery.start(agent.run)
    return agent


async def _records_since(sink: OtlpSink, seen: int, count: int) -> list[dict[str, object]]:
    await poll_until(lambda: len(list(log_records(sink))) >= seen + count)
    return list(log_records(sink))[seen:]


async def test_processors_apply_and_reconfigure_swaps_them(
    tmp_path: Path, nursery: trio.Nursery, thread_safe_clock: object
) -> None:
    """Plugin data arrives redacted; after a reload the new processor set applies, nothing is lost."""
    sink = OtlpSink()
    agent = await _start(tmp_path, nursery, sink, PLUGIN + SCRUB)
    with trio.fail_after(30):
        first = await _records_since(sink, 0, 4)
    assert {r["tag"] for r in first} == {"****"}
    loaded = load_text(
        tmp_path / "agent.toml", agent_toml(tmp_path / "state", PLUGIN + SITE), agent.plugin_types
    )
    plan = await agent.reconfigure(loaded)
    assert "processors" in plan.live_keys
    seen = len(list(log_records(sink)))
    with trio.fail_after(30):
        later = await _records_since(sink, seen + 4, 4)  # skip a batch that may predate the swap
    assert all(r["tag"] == "secret-tag" and r["site"] == "plant-3" for r in later)
    seqs = sorted(int(str(r["seq"])) for r in log_records(sink))
    assert seqs == list(range(len(seqs)))  # no gap, no duplicate across the swap
    agent.request_stop()


async def test_unsafe_new_processor_config_changes_nothing(
    tmp_path: Path, nursery: trio.Nursery, thread_safe_clock: object
) -> None:
    """A reload whose hash key file is world-readable is refused; the running processors stay."""
    sink = OtlpSink()
    agent = await _start(tmp_path, nursery, sink, PLUGIN + SCRUB)
    key = tmp_path / "hash.key"
    key.write_text("k" * 32)
    key.chmod(0o644)
    hashing = (
        f'\n[processors.scrub]\ntype = "redact"\nkeys = ["tag"]\naction = "hash"\nhash_key_file = "{key}"\n'
    )
    loaded = load_text(
        tmp_path / "agent.toml", agent_toml(tmp_path / "state", PLUGIN + hashing), agent.plugin_types
    )
    before = agent.pipeline.processors
    with pytest.raises(ConfigError, match=r"processors\.scrub\.hash_key_file: .*chmod 600"):
        await agent.reconfigure(loaded)
    assert agent.pipeline.processors is before
    seen = len(list(log_records(sink)))
    with trio.fail_after(30):
        later = await _records_since(sink, seen, 4)
    assert {r["tag"] for r in later} == {"****"}
    agent.request_stop()
