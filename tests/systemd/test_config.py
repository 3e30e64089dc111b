"""[service] keys are validated with errors that name the key, the value and its origin."""

from __future__ import annotations

import pytest

from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError
from edge_agent.runtime.discovery import PluginRegistry


def _load(*sets: str) -> object:
    return load_config(
        main_path=None, environ={}, cli_sets=list(sets), plugin_types=PluginRegistry.for_config
    )


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("service.memory_max=16MiB", "service.memory_max: must be 0 (no limit) or at least 32MiB"),
        ("service.cpu_quota=-1", "service.cpu_quota: must be a percentage of one CPU between 0"),
        ("service.nice=20", "service.nice: must be between -20 and 19, got 20"),
        ("service.stall_timeout=0s", "service.stall_timeout: must be greater than 0"),
        ("service.status_interval=never", "service.status_interval: invalid duration 'never'"),
    ],
)
def test_bad_service_values(assignment: str, message: str) -> None:
    """Out-of-range budgets and durations are refused, naming the key and the --set flag."""
    with pytest.raises(ConfigError) as info:
        _load(assignment)
    assert str(info.value).startswith(message)
    assert str(info.value).endswith(f"(from --set {assignment.split('=', maxsplit=1)[0]})")


def test_zero_means_unlimited() -> None:
    """memory_max = 0 and cpu_quota = 0 are accepted and mean no limit."""
    config = _load("service.memory_max=0", "service.cpu_quota=0").config  # type: ignore[attr-defined]
    assert (config.service.memory_max, config.service.cpu_quota) == (0, 0)
