"""`edge-agent status` text: a wedged pipeline and the last reload are shown."""

from __future__ import annotations

from edge_agent.cli_info import format_status


def _status(**pipeline: object) -> dict[str, object]:
    return {
        "agent": {"version": "1.0", "pid": 42, "uptime_s": 100.0},
        "pipeline": {"state": "running", **pipeline},
        "queue": {"bytes": 10, "kind": "memory", "records": {"logs": 1}},
        "export": {"endpoint": "http://u:4318", "upstream": "reachable", "requests_ok": 1, "requests_failed": 0,
                   "last_success_unix": 990.0},
        "plugins": [],
    }  # fmt: skip


def test_wedged_pipeline_is_the_second_line() -> None:
    """The liveness verdict sits right under the headline when it is not live."""
    text = format_status(_status(health="wedged: exporter (export request) made no progress"), now=1000.0)
    assert text.splitlines()[1] == "  wedged: exporter (export request) made no progress"
    assert "wedged" not in format_status(_status(health="live"), now=1000.0)


def test_last_reload_is_listed() -> None:
    """The last reload's age and one-line change summary are shown."""
    status = _status(health="live")
    status["last_reload"] = {"unix": 940.0, "changes": "plugins +cpu2", "files": []}
    assert "last reload 60s ago: plugins +cpu2" in format_status(status, now=1000.0)


def test_degradation_mode_and_paced_plugins_are_shown() -> None:
    """The adaptive mode, its reasons and every plugin away from its base interval are listed."""
    status = _status(health="live (degraded: constrained)")
    status["adaptive"] = {
        "enabled": True,
        "mode": "constrained",
        "since_s": 95.0,
        "reasons": {"constrained": "device CPU 97% busy"},
        "plugins": {
            "hostmetrics": {"interval_s": 20.0, "base_s": 10.0, "shed": False, "why": "constrained x2"},
            "debug": {"interval_s": 60.0, "base_s": 10.0, "shed": True, "why": "disk_pressure: bulk shed"},
            "alerts": {"interval_s": 30.0, "base_s": 30.0, "shed": False, "why": ""},
        },
    }
    text = format_status(status, now=1000.0)
    assert "mode: constrained for 95s (constrained: device CPU 97% busy)" in text
    assert "  hostmetrics: every 20s (base 10s; constrained x2)" in text
    assert "  debug: shed (base 10s; disk_pressure: bulk shed)" in text
    assert "alerts" not in text


def test_fleet_state_is_listed() -> None:
    """With the fleet on: which config runs, the last push's status and why it failed."""
    status = _status(health="live")
    status["fleet"] = {
        "endpoint": "https://fleet:4320/v1/opamp",
        "instance_uid": "0190c2a4-0000-7000-8000-000000000000",
        "running_version": 7,
        "remote_config": {"config_hash": "ab" * 16, "status": "FAILED", "error": "refused: bad signature"},
        "certificate": {"status": "APPLIED", "error": "", "rotations": 1},
        "last_error": None,
    }
    text = format_status(status, now=1000.0)
    assert (
        "fleet https://fleet:4320/v1/opamp (instance 0190c2a4-0000-7000-8000-000000000000): running pushed config v7"
        in text
    )
    assert "last pushed config abababababab FAILED: refused: bad signature" in text
    assert "certificate rotation APPLIED" in text
    assert "fleet" not in format_status(_status(health="live"), now=1000.0)
