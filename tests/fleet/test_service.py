"""The fleet client in a running agent against the fleet server tool: push, verify, apply, health, rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from edge_agent.fleet import messages as m
from edge_agent.fleet.signing import CONFIG_NAME, SIGNATURE_NAME
from edge_agent.otlp.fragment import Signal
from tests.agent_harness import tags_by_instance
from tests.fleet.harness import DOWN_HOST, FleetHarness, FleetKeys, plugin_tags
from tools.fleetlib import Throttle

PUSHED = """
[plugins.base]
tag = "fleet-v1"

[plugins.extra]
type = "aseqlogs"
interval = "1s"
tag = "fleet-v1"
"""


@pytest.fixture
async def fleet(tmp_path: Path, nursery: trio.Nursery) -> FleetHarness:
    harness = FleetHarness(tmp_path, nursery)
    await harness.start_server()
    return harness


async def _reported(fleet: FleetHarness) -> None:
    await fleet.server.wait_until(
        lambda s: fleet.agent_state() is not None and fleet.agent_state().health is not None
    )


async def _push_into_health_window(fleet: FleetHarness, version: int) -> str:
    """Push a config once the agent has reported; return when it is applied and its health window runs."""
    assert fleet.service is not None
    await _reported(fleet)
    config_hash = fleet.push(PUSHED, version=version)
    while fleet.service.manager is None or fleet.service.manager.in_effect is None:
        await trio.sleep(0.1)
    return config_hash


async def test_push_is_applied_and_reported(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """A signed push is applied live, committed, reported APPLIED, and the effective config shows it."""
    agent = await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
        config_hash = fleet.push(PUSHED, version=1)
        state = await fleet.wait_status("APPLIED", config_hash)
    assert {k: v for k, v in plugin_tags(agent).items() if k != "hostmetrics"} == {
        "base": "fleet-v1",
        "extra": "fleet-v1",
    }
    body = state.effective_body.decode()
    assert 'tag = "fleet-v1"' in body and "fleet config v1" in body
    assert (fleet.state / "fleet" / "committed.cbor").is_file()
    assert not (fleet.state / "fleet" / "staged.cbor").exists()
    assert state.health is not None and state.health.healthy
    fleet_status = agent.status()["fleet"]  # also in /status
    assert (fleet_status["remote_config"]["status"], fleet_status["running_version"]) == ("APPLIED", 1)
    assert set(state.health.component_health_map) >= {
        "pipeline",
        "buffer",
        "exporter",
        "plugin/base",
        "plugin/extra",
    }
    with trio.fail_after(30):
        await fleet.sink.wait_for(Signal.LOGS, 40)
    assert tags_by_instance(fleet.sink)["extra"]["fleet-v1"] > 0
    await fleet.stop_agent()


async def test_bad_signature_is_refused_and_old_config_keeps_running(
    fleet: FleetHarness, tmp_path: Path, thread_safe_clock: object
) -> None:
    """A config signed by another key is refused (FAILED, reason given) and nothing changes."""
    agent = await fleet.start_agent()
    other = FleetKeys(tmp_path / "other") if (tmp_path / "other").mkdir() is None else None
    assert other is not None
    with trio.fail_after(30):
        await _reported(fleet)
        files = other.files(PUSHED, version=5)
        config_hash = fleet.server.state.push(list(fleet.server.state.agents.values()), files).config_hash
        state = await fleet.wait_status("FAILED", config_hash)
    assert "bad signature" in state.remote_error and "this device trusts only key" in state.remote_error
    assert plugin_tags(agent)["base"] == "local"
    assert "extra" not in plugin_tags(agent)
    assert not (fleet.state / "fleet" / "committed.cbor").exists()
    await fleet.stop_agent()


async def test_tampered_config_is_refused(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """Changing agent.toml after signing breaks the signature: refused."""
    await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
        files = fleet.keys.files(PUSHED, version=2)
        files[CONFIG_NAME] = (
            files[CONFIG_NAME][0] + b"\n[agent]\nlog_level = 'debug'\n",
            files[CONFIG_NAME][1],
        )
        config_hash = fleet.server.state.push(list(fleet.server.state.agents.values()), files).config_hash
        state = await fleet.wait_status("FAILED", config_hash)
    assert "different agent.toml content" in state.remote_error
    await fleet.stop_agent()


@pytest.mark.parametrize(
    ("pushed", "expected", "origin"),
    [
        (
            '[fleet]\nendpoint = "http://evil.example/v1/opamp"\n',
            "fleet: a pushed config may not set this",
            True,
        ),
        ('[agent]\nplugin_dirs = ["/tmp"]\n', "agent.plugin_dirs: a pushed config may not set this", True),
        (
            '[plugins.run]\ntype = "exec"\ncommand = ["/bin/true"]\n',
            "plugin type 'exec' may not be pushed",
            True,
        ),
        ("[exporter]\nendpoint = 17\n", "exporter.endpoint: expected a string", True),
        ("[plugins.base]\nrecords = -1\n", "plugin base (aseqlogs) rejected its config", False),
    ],
)
async def test_config_breaking_a_rule_is_refused(
    fleet: FleetHarness, pushed: str, expected: str, origin: bool, thread_safe_clock: object
) -> None:
    """Pushed configs that break a layering rule or do not validate are refused with the key named."""
    agent = await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
        config_hash = fleet.push(pushed, version=3)
        state = await fleet.wait_status("FAILED", config_hash)
    assert expected in state.remote_error
    if origin:  # the error points into the pushed file
        assert "(from fleet config v3:" in state.remote_error
    assert plugin_tags(agent)["base"] == "local"
    await fleet.stop_agent()


async def test_missing_signature_file_is_refused(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """A config map without agent.toml.sig is refused, naming both expected entries."""
    await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
        files = fleet.keys.files(PUSHED, version=2)
        del files[SIGNATURE_NAME]
        config_hash = fleet.server.state.push(list(fleet.server.state.agents.values()), files).config_hash
        state = await fleet.wait_status("FAILED", config_hash)
    assert "must hold agent.toml and agent.toml.sig; it holds agent.toml" in state.remote_error
    await fleet.stop_agent()


async def test_replayed_older_config_is_refused(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """After v10 is applied, a validly signed v9 (a replay) is refused and v10 keeps running."""
    agent = await fleet.start_agent()
    with trio.fail_after(60):
        await _reported(fleet)
        applied = fleet.push(PUSHED, version=10)
        await fleet.wait_status("APPLIED", applied)
        replay = fleet.push(PUSHED.replace("fleet-v1", "old"), version=9)
        state = await fleet.wait_status("FAILED", replay)
    assert "older than the running config's 10" in state.remote_error
    assert plugin_tags(agent)["base"] == "fleet-v1"
    await fleet.stop_agent()


async def test_config_failing_health_is_rolled_back(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """A config whose new plugin fails once running is rolled back automatically and reported FAILED."""
    agent = await fleet.start_agent()
    broken = (
        '[plugins.flaky]\ntype = "aseqlogs"\ninterval = "500ms"\nfail_after = 1\n[plugins.base]\ntag = "v2"\n'
    )
    with trio.fail_after(60):
        await _reported(fleet)
        config_hash = fleet.push(broken, version=4)
        state = await fleet.wait_status("FAILED", config_hash)
    assert (
        "rolled back after the health check failed: plugin flaky (aseqlogs) keeps failing"
        in state.remote_error
    )
    assert "flaky" not in plugin_tags(agent)
    assert plugin_tags(agent)["base"] == "local"
    assert not (fleet.state / "fleet" / "committed.cbor").exists()
    assert not (fleet.state / "fleet" / "staged.cbor").exists()
    await fleet.stop_agent()


async def test_exporter_that_cannot_deliver_is_rolled_back(
    fleet: FleetHarness, thread_safe_clock: object
) -> None:
    """Pointing the exporter at a dead upstream fails the health window; the old exporter delivers again."""
    agent = await fleet.start_agent()
    with trio.fail_after(60):
        await _reported(fleet)
        await fleet.sink.wait_for(Signal.LOGS, 10)  # the upstream is reachable before the push
        config_hash = fleet.push(f'[exporter]\nendpoint = "http://{DOWN_HOST}:4318"\n', version=6)
        state = await fleet.wait_status("FAILED", config_hash)
        assert "the new exporter settings cannot deliver" in state.remote_error
        assert agent.config.exporter.endpoint == "http://localhost:4318"
        before = fleet.sink.records[Signal.LOGS]
        await fleet.sink.wait_for(Signal.LOGS, before + 10)
    await fleet.stop_agent()


async def test_restart_runs_the_committed_config_even_without_server(
    fleet: FleetHarness, thread_safe_clock: object
) -> None:
    """After a restart with the fleet server gone, the last-known-good pushed config runs."""
    await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
        await fleet.wait_status("APPLIED", fleet.push(PUSHED, version=7))
    await fleet.stop_agent()
    agent = await fleet.start_agent(endpoint="http://127.0.0.1:9/v1/opamp")  # nothing listens on port 9
    assert plugin_tags(agent)["extra"] == "fleet-v1"
    with trio.fail_after(30):
        while fleet.service is None or fleet.service.last_error is None:
            await trio.sleep(0.5)
    assert "connection refused" in fleet.service.last_error
    await fleet.stop_agent()


async def test_throttled_client_honours_retry_after(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """A 503 with Retry-After: 20 holds the next request back 20 s; afterwards reporting resumes."""
    await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
    fleet.server.throttle = Throttle(503, "20")
    start_requests = fleet.server.requests
    with trio.fail_after(10):
        while fleet.server.requests == start_requests:
            await trio.sleep(0.1)
    throttled_at = trio.current_time()
    count = fleet.server.requests
    await trio.sleep(15)
    assert fleet.server.requests == count  # nothing sent during the Retry-After period
    fleet.server.throttle = None
    with trio.fail_after(30):
        while fleet.server.requests == count:
            await trio.sleep(0.1)
    assert trio.current_time() - throttled_at >= 20 - 0.1  # throttled_at is seen up to one 0.1 s poll late
    await fleet.stop_agent()


async def test_server_restart_gets_full_state(fleet: FleetHarness, thread_safe_clock: object) -> None:
    """A server that lost its state asks for the full state and gets description and effective config."""
    await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
        fleet.server.state.agents.clear()  # the server restarted
        await fleet.server.wait_until(
            lambda s: fleet.agent_state() is not None and fleet.agent_state().effective_body
        )
    state = fleet.agent_state()
    assert state.full_state_requests == 1
    assert state.attributes["service.name"] == "edge-agent"
    await fleet.stop_agent()


async def test_instance_uid_persists_and_header_matches(
    fleet: FleetHarness, thread_safe_clock: object
) -> None:
    """The instance UID is a UUIDv7 kept across restarts, and every request carries it in the header."""
    await fleet.start_agent()
    with trio.fail_after(30):
        await _reported(fleet)
    assert fleet.service is not None and fleet.service.core is not None
    uid = fleet.service.core.instance_uid
    await fleet.stop_agent()
    await fleet.start_agent()
    assert fleet.service.core is not None
    assert fleet.service.core.instance_uid == uid
    assert uid[6] >> 4 == 7  # version 7
    assert set(fleet.server.instance_uid_headers) == {m.uid_text(uid)}
    await fleet.stop_agent()


async def test_reload_keeps_the_fleet_layer_even_during_a_health_window(
    fleet: FleetHarness, thread_safe_clock: object
) -> None:
    """A SIGHUP-style reload loads the fleet layer in effect: the config being tried, then the committed one."""
    agent = await fleet.start_agent()
    assert fleet.service is not None
    with trio.fail_after(30):
        config_hash = await _push_into_health_window(fleet, version=8)
        reload = fleet.service.loader(fleet.service.layer(), agent.plugin_types)
        await agent.reconfigure(reload)
        assert plugin_tags(agent)["base"] == "fleet-v1"
        await fleet.wait_status("APPLIED", config_hash)
    again = fleet.service.loader(fleet.service.layer(), agent.plugin_types)
    assert (await agent.reconfigure(again)).is_noop()
    await fleet.stop_agent()


async def test_orderly_stop_during_health_window_retries_after_restart(
    fleet: FleetHarness, thread_safe_clock: object
) -> None:
    """Stopping the agent mid-window is not a crash: the restart runs the old config and applies the push again."""
    agent = await fleet.start_agent()
    assert fleet.service is not None
    with trio.fail_after(30):
        config_hash = await _push_into_health_window(fleet, version=9)
    await fleet.stop_agent()
    assert not (fleet.state / "fleet" / "staged.cbor").exists()
    assert not (fleet.state / "fleet" / "committed.cbor").exists()
    agent = await fleet.start_agent()
    assert plugin_tags(agent)["base"] == "local"  # the committed (local) config runs first
    with trio.fail_after(30):
        await fleet.wait_status("APPLIED", config_hash)
    assert plugin_tags(agent)["base"] == "fleet-v1"
    await fleet.stop_agent()
