"""An independent OpAMP client (PyPI opentelemetry-opamp-client) against our fleet server over HTTP.

The peer is thread-based and uses ``requests``; it reports itself, takes a
remote config our server offers, acknowledges it APPLIED, and keeps
heartbeating. Our server must understand all of that without any
edge-agent code on the client side.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from edge_agent.fleet import messages as m
from tests.fleet.harness import FleetKeys
from tests.peers import require
from tools.fleetlib import FleetServer
from tools.fleetstate import AgentState, FleetState

pytestmark = [pytest.mark.e2e]


class Received:
    def __init__(self) -> None:
        self.configs: list[dict[str, bytes]] = []
        self.lock = threading.Lock()


def _callbacks(received: Received) -> Any:
    from opentelemetry._opamp.callbacks import OpAMPCallbacks
    from opentelemetry._opamp.proto import opamp_pb2

    class Callbacks(OpAMPCallbacks):  # type: ignore[misc]
        def on_message(self, agent: Any, client: Any, message: Any) -> None:
            remote = message.remote_config
            if remote is None:
                return
            with received.lock:
                received.configs.append({n: f.body for n, f in remote.config.config_map.items()})
            status = client.update_remote_config_status(
                remote_config_hash=remote.config_hash, status=opamp_pb2.RemoteConfigStatuses_APPLIED
            )
            if status is not None:
                agent.send(client.build_remote_config_status_response_message(status))

    return Callbacks()


def _only_agent(state: FleetState) -> AgentState | None:
    return next(iter(state.agents.values()), None)


async def test_pypi_opamp_client_receives_and_acknowledges_a_remote_config(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The PyPI client registers, gets the pushed agent.toml + signature, and reports it APPLIED."""
    require("opamp-client")
    from opentelemetry._opamp.agent import OpAMPAgent
    from opentelemetry._opamp.client import OpAMPClient

    server = FleetServer(FleetState(heartbeat_interval=1))
    await nursery.start(server.serve)
    client = OpAMPClient(
        endpoint=server.endpoint,
        agent_identifying_attributes={"service.name": "conformance-peer"},
        agent_non_identifying_attributes={"fleet.label.ring": "peer"},
        timeout_millis=5000,
    )
    received = Received()
    peer = OpAMPAgent(interval=0.3, callbacks=_callbacks(received), client=client, initial_backoff=0.1)
    await trio.to_thread.run_sync(peer.start)
    try:
        with trio.fail_after(30):
            while (agent := _only_agent(server.state)) is None or not agent.attributes:
                await trio.sleep(0.05)
        assert agent.attributes["service.name"] == "conformance-peer"
        assert agent.capabilities & m.ACCEPTS_REMOTE_CONFIG and agent.capabilities & m.REPORTS_HEARTBEAT
        files = FleetKeys(tmp_path).files('[plugins.base]\ntag = "peer"\n', version=3)
        desired = server.state.push(server.state.select(labels={"ring": "peer"}), files)
        with trio.fail_after(30):
            while agent.remote_hash != desired.config_hash or agent.remote_status != m.STATUS_APPLIED:
                await trio.sleep(0.05)
        with received.lock:
            first = received.configs[0]
        assert first == {name: body for name, (body, _) in files.items()}
        heartbeats = agent.messages
        with trio.fail_after(30):
            while agent.messages < heartbeats + 3:  # it keeps polling, and is not re-offered the config
                await trio.sleep(0.05)
        assert len(received.configs) == 1
        assert server.state.bad_requests == 0
        assert agent.full_state_requests == 0  # its sequence numbers run without gaps
        # 0.5b0 predates the OpAMP-Instance-UID header (added in opamp-spec v0.15): our server does not need it
        assert set(server.instance_uid_headers) == {None}
    finally:
        await trio.to_thread.run_sync(peer.stop, 5)
