"""SIGKILL a real agent at each step of applying a pushed config: it restarts on the old or the new one.

The agent runs v1 (committed), the fleet pushes v2, and the process is
killed when the apply reaches a step (seen in the fleet server or the log).
On restart (the server no longer offers anything) the agent must run
exactly v1 or exactly v2 -- its reported effective config equals one of
the two precomputed settings hashes -- and which one is fixed by whether
the commit happened.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio

from edge_agent.fleet import effective
from tests.e2e.fleet_peers import FleetRig, pushed_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

V1, V2 = pushed_config("v1"), pushed_config("v2", extra='\n[resource.attributes]\nwave = "2"\n')


async def _kill_at(rig: FleetRig, point: str, v2_hash: bytes, agent: object) -> None:
    if point == "applying":
        await rig.wait_status("APPLYING", v2_hash)
    elif point == "staged":
        await agent.wait_log("fleet: staged fleet config v2")  # type: ignore[attr-defined]
    elif point == "health-window":
        await agent.wait_log("fleet: applied fleet config v2")  # type: ignore[attr-defined]
    else:
        await agent.wait_log("fleet: fleet config v2 is now the last-known-good config")  # type: ignore[attr-defined]
    agent.signal(signal.SIGKILL)  # type: ignore[attr-defined]
    assert await agent.wait() == -signal.SIGKILL  # type: ignore[attr-defined]


@pytest.mark.parametrize("point", ["applying", "staged", "health-window", "committed"])
async def test_sigkill_during_apply_restarts_on_old_or_new(
    tmp_path: Path, nursery: trio.Nursery, point: str
) -> None:
    """Killed at any step, the agent restarts on exactly v1 or v2 (v2 only once committed), never a mix."""
    rig = FleetRig(tmp_path, nursery)
    await rig.start()
    rig.write_config(health_window="2s")
    old, new = rig.expected_hash(V1), rig.expected_hash(V2)
    agent = await rig.start_agent()
    with trio.fail_after(60):
        await rig.wait_reported()
        await rig.wait_status("APPLIED", rig.push(V1, version=1))
        v2_hash = rig.push(V2, version=2)
        await _kill_at(rig, point, v2_hash, agent)
    rig.server.state.desired.clear()  # from now on the server offers nothing: what runs is what booted
    rig.server.state.agents.clear()
    again = await rig.start_agent()
    with trio.fail_after(60):
        state = await rig.wait_reported()
    booted = effective.settings_hash(state.effective_body)
    assert booted in (old, new), "the agent runs neither the old nor the new config"
    if point == "committed":
        assert booted == new
        assert "fleet: starting with the last-known-good fleet config v2" in again.messages()
    else:
        assert booted == old
        assert "fleet: starting with the last-known-good fleet config v1" in again.messages()
    if point in ("staged", "health-window"):  # a staged apply that never committed is reported, not retried
        assert state.remote_hash == v2_hash and "restarted while applying" in state.remote_error
    with trio.fail_after(30):
        await rig.wait_tag("v2" if point == "committed" else "v1", 10)
    again.signal(signal.SIGTERM)
    assert await again.wait() == 0
