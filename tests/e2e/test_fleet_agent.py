"""Real ``edge-agent run`` processes managed by the fleet server tool, records counted at a real sink."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio

from tests.e2e.fleet_peers import FleetRig, pushed_config
from tests.fleet.harness import FleetKeys

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
async def rig(tmp_path: Path, nursery: trio.Nursery) -> FleetRig:
    rig = FleetRig(tmp_path, nursery)
    await rig.start()
    rig.write_config()
    return rig


async def test_push_applied_and_effective_config_reported(rig: FleetRig) -> None:
    """push -> APPLIED; the reported effective config is exactly local + pushed; new records flow."""
    agent = await rig.start_agent()
    with trio.fail_after(60):
        await rig.wait_reported()
        await rig.wait_effective(rig.expected_hash(None))
        config_hash = rig.push(pushed_config("v1"), version=1)
        await rig.wait_status("APPLIED", config_hash)
        await rig.wait_effective(rig.expected_hash(pushed_config("v1")))
        await rig.wait_tag("v1", 20)
    assert "fleet: fleet config v1 is now the last-known-good config" in agent.messages()
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0


async def test_bad_signature_refused_and_old_config_keeps_delivering(rig: FleetRig, tmp_path: Path) -> None:
    """A config signed by an unknown key: FAILED with the reason; records with the local tag keep arriving."""
    agent = await rig.start_agent()
    (tmp_path / "intruder").mkdir()
    intruder = FleetKeys(tmp_path / "intruder")
    with trio.fail_after(60):
        await rig.wait_reported()
        config_hash = rig.push(pushed_config("evil"), version=99, keys=intruder)
        state = await rig.wait_status("FAILED", config_hash)
        assert "bad signature" in state.remote_error
        await rig.wait_tag("local", 20)
    assert rig.tags()["evil"] == 0
    await rig.wait_effective(rig.expected_hash(None))
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0


async def test_config_failing_health_is_rolled_back(rig: FleetRig) -> None:
    """A config whose new plugin fails once running: rolled back, FAILED, the old config runs and delivers."""
    agent = await rig.start_agent()
    broken = pushed_config(
        "broken", extra='\n[plugins.flaky]\ntype = "aseqlogs"\ninterval = "200ms"\nfail_after = 2\n'
    )
    with trio.fail_after(60):
        await rig.wait_reported()
        config_hash = rig.push(broken, version=2)
        state = await rig.wait_status("FAILED", config_hash)
        assert (
            "rolled back after the health check failed: plugin flaky (aseqlogs) keeps failing"
            in state.remote_error
        )
        await rig.wait_effective(rig.expected_hash(None))
        await trio.sleep(
            3
        )  # what the broken config collected before the rollback drains from the disk buffer
        broken_before = rig.tags()["broken"]
        await rig.wait_tag("local", 50)
    assert rig.tags()["broken"] == broken_before  # the rolled-back instances are gone
    assert not (rig.state_dir / "fleet" / "committed.cbor").exists()
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0


async def test_server_down_at_boot_runs_last_known_good(rig: FleetRig) -> None:
    """Apply v1, stop agent and fleet server, start the agent again: v1 runs and delivers, server or not."""
    agent = await rig.start_agent()
    with trio.fail_after(60):
        await rig.wait_reported()
        await rig.wait_status("APPLIED", rig.push(pushed_config("v1"), version=1))
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0
    rig.stop_server()
    again = await rig.start_agent()
    with trio.fail_after(60):
        await again.wait_log("starting with the last-known-good fleet config v1")
        await rig.wait_tag("v1", 20)
        await again.wait_log("fleet server")  # it keeps trying: "... unreachable ..."
    assert any("unreachable" in msg for msg in again.messages("warning"))
    again.signal(signal.SIGTERM)
    assert await again.wait() == 0
