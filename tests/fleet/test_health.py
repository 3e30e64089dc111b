"""Component health reported to the server, and the health window's verdicts."""

from __future__ import annotations

import dataclasses

import pytest

from edge_agent.fleet.health import HealthWindow, PluginView, Snapshot, component_health


def _snap(**changes: object) -> Snapshot:
    base = Snapshot(
        state="running",
        live=True,
        liveness="live",
        started_unix=1000.0,
        plugins=(PluginView("cpu", "hostmetrics", "running", None),),
        buffer_kind="memory",
        queued_bytes=0,
        max_bytes=1000,
        queued_records=0,
        upstream="reachable",
        export_ok=5,
        export_error=None,
        endpoint="http://up:4318",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_healthy_tree_has_one_entry_per_component() -> None:
    """The tree holds pipeline, each plugin, buffer and exporter; all healthy."""
    health = component_health(_snap(), now_ns=5)
    assert health.healthy and health.status == "running"
    assert set(health.component_health_map) == {"pipeline", "plugin/cpu", "buffer", "exporter"}
    assert health.start_time_unix_nano == 1000 * 10**9
    assert health.component_health_map["buffer"].status == "memory, 0% full"


@pytest.mark.parametrize(
    ("changes", "component", "error"),
    [
        ({"plugins": (PluginView("cpu", "hostmetrics", "backoff", "boom"),)}, "plugin/cpu", "boom"),
        ({"upstream": "unreachable", "export_error": "refused"}, "exporter", "refused"),
        ({"queued_bytes": 950}, "buffer", "buffer nearly full"),
        ({"live": False, "liveness": "wedged: exporter"}, "pipeline", "wedged: exporter"),
    ],
)
def test_unhealthy_component_makes_the_agent_unhealthy(
    changes: dict[str, object], component: str, error: str
) -> None:
    """Any unhealthy component marks the agent unhealthy and its error shows at the top."""
    health = component_health(_snap(**changes))
    assert not health.healthy
    assert not health.component_health_map[component].healthy
    assert error in health.component_health_map[component].last_error
    assert error in health.last_error


def test_buffer_fill_is_reported_in_steps() -> None:
    """Fill is bucketed in 10 % steps so small queue changes are not new health."""
    assert (
        component_health(_snap(queued_bytes=123)).component_health_map["buffer"].status == "memory, 10% full"
    )
    assert (
        component_health(_snap(queued_bytes=189)).component_health_map["buffer"].status == "memory, 10% full"
    )


def test_mode_is_reported_when_known() -> None:
    """A degradation mode, once the scheduler reports one, is a component of its own."""
    assert component_health(_snap(mode="low-power")).component_health_map["mode"].status == "low-power"


def test_window_fails_on_wedge_and_failing_new_plugin_only() -> None:
    """A stall fails the window; a failing plugin fails it only if the new config started it."""
    window = HealthWindow(_snap(), watched=["new"], exporter_replaced=False)
    assert window.check(_snap()) is None
    assert "stopped making progress" in (window.check(_snap(live=False, liveness="wedged")) or "")
    old_failing = _snap(plugins=(PluginView("cpu", "hostmetrics", "backoff", "x"),))
    assert window.check(old_failing) is None
    new_failing = _snap(plugins=(PluginView("new", "aseqlogs", "backoff", "told to"),))
    assert window.check(new_failing) == "plugin new (aseqlogs) keeps failing: told to"


@pytest.mark.parametrize(
    ("replaced", "before", "after", "fails"),
    [
        (True, "reachable", "unreachable", True),  # the new exporter settings broke delivery
        (True, "unreachable", "unreachable", False),  # offline before and after: not the config's fault
        (False, "reachable", "unreachable", False),  # exporter untouched: an outage, not the config
        (True, "reachable", "unknown", False),  # nothing to send yet
    ],
)
def test_window_verdict_on_the_exporter(replaced: bool, before: str, after: str, fails: bool) -> None:
    """The exporter fails the verdict only if the config replaced it and broke a working upstream."""
    window = HealthWindow(_snap(upstream=before), watched=[], exporter_replaced=replaced)
    verdict = window.verdict(_snap(upstream=after, export_error="Connection refused"))
    assert (verdict is not None) == fails
    if fails:
        assert "cannot deliver" in verdict and "Connection refused" in verdict  # type: ignore[operator]


def test_degraded_mode_shows_in_the_top_status_but_stays_healthy() -> None:
    """A degraded mode (offline, constrained ...) is reported, and is not a fault."""
    health = component_health(_snap(mode="offline"))
    assert health.healthy and health.status == "running (degraded: offline)"
    assert component_health(_snap(mode="normal")).status == "running"
