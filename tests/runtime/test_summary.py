"""The one-line STATUS= text."""

from __future__ import annotations

from edge_agent.runtime.summary import ServiceSummary, status_line


def _summary(**changes: object) -> ServiceSummary:
    values: dict[str, object] = {
        "state": "running",
        "upstream": "reachable",
        "queued_records": 42,
        "queued_bytes": 12_800,
        "last_export_unix": 1000.0,
        "plugins": 3,
        "health": "live",
    }
    values.update(changes)
    return ServiceSummary(**values)  # type: ignore[arg-type]


def test_running_online() -> None:
    """State, mode, queue depth, last export and plugin count fit on one line."""
    line = status_line(_summary(), now_unix=1003.2)
    assert line == "running, online: queue 42 records (12.5KiB), last export 3s ago, 3 plugins"


def test_offline_without_any_export() -> None:
    """An unreachable upstream reads as offline; no export yet is said plainly."""
    line = status_line(_summary(upstream="unreachable", last_export_unix=None, queued_bytes=10, plugins=1), 0)
    assert line == "running, offline: queue 42 records (10B), no export yet, 1 plugin"


def test_wedged_pipeline_leads_the_line() -> None:
    """A wedged pipeline is the first thing systemctl status shows."""
    line = status_line(_summary(health="wedged: plugin x (scrape) made no progress"), 1000)
    assert line.startswith("WEDGED: plugin x (scrape) made no progress; running, online:")
    assert "\n" not in line


def test_modes() -> None:
    """Upstream states map to online/offline/connecting."""
    assert [_summary(upstream=u).mode for u in ("reachable", "unreachable", "unknown")] == [
        "online",
        "offline",
        "connecting",
    ]
    assert "MiB" in status_line(_summary(queued_bytes=3 << 20), 1000)


def test_degradation_mode_takes_the_mode_slot() -> None:
    """A degraded agent shows its degradation mode where online/offline would be."""
    assert _summary(degradation="constrained").mode == "constrained"
    assert _summary(degradation="disk_pressure", upstream="unreachable").mode == "disk_pressure"
    assert _summary(degradation="normal", upstream="unknown").mode == "connecting"
    line = status_line(_summary(degradation="offline", upstream="unreachable"), 1003.2)
    assert line.startswith("running, offline: queue 42 records")
