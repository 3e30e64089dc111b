"""[buffer] settings: defaults are sane, bad values are refused naming the key."""

from __future__ import annotations

import pytest

from edge_agent.buffer.config import BufferConfig
from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError
from edge_agent.runtime.discovery import PluginRegistry


def _load(*sets: str) -> BufferConfig:
    loaded = load_config(
        main_path=None, environ={}, cli_sets=list(sets), plugin_types=PluginRegistry.for_config
    )
    return loaded.config.buffer


def test_defaults_are_a_durable_disk_buffer() -> None:
    """Out of the box: disk, fsync per 1 s group commit, gzip, drop oldest, fresh first."""
    cfg = _load()
    assert (cfg.kind, cfg.fsync, cfg.commit_interval, cfg.compression) == ("disk", "always", 1.0, "gzip")
    assert (cfg.when_full, cfg.replay, cfg.backfill_share) == ("drop_oldest", "fresh_first", 0.25)
    assert cfg.effective_segment_bytes == 4 * 1024 * 1024


def test_small_budgets_get_small_segments() -> None:
    """A 4 MiB cap gets 128 KiB segments, so the budget works to the segment."""
    assert _load("buffer.max_disk_bytes=4MiB").effective_segment_bytes == 128 * 1024


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("buffer.max_disk_bytes=512KiB", "buffer.max_disk_bytes: must be at least 1MiB"),
        ("buffer.segment_bytes=2MiB", "at most a quarter of buffer.max_disk_bytes"),
        ("buffer.segment_bytes=1000", "buffer.segment_bytes: must be 0 (automatic) or at least 64KiB"),
        ("buffer.when_full=drop_all", "buffer.when_full: must be one of"),
        ("buffer.fsync=sometimes", "buffer.fsync: must be one of"),
        ("buffer.backfill_share=0", "buffer.backfill_share: must be greater than 0"),
        ("buffer.compression_level=12", "buffer.compression_level for gzip must be 1-9"),
        ("buffer.commit_interval=0s", "buffer.commit_interval: must be greater than 0"),
        ("buffer.kind=tape", "buffer.kind: must be one of"),
    ],
)
def test_bad_values_name_the_key(setting: str, message: str) -> None:
    """Each invalid setting is one ConfigError naming the key and what is allowed."""
    extra = ("buffer.max_disk_bytes=4MiB",) if "segment_bytes=2MiB" in setting else ()
    with pytest.raises(ConfigError) as info:
        _load(*extra, setting)
    assert message in str(info.value)
