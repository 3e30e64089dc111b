"""The fleet server's protocol state: sequence gaps, config offers by hash, CSRs, certificate offers."""

from __future__ import annotations

import pytest

from edge_agent.fleet import messages as m
from tools.fleetstate import FleetState

UID = bytes(range(16))
CAPS = m.REPORTS_STATUS | m.ACCEPTS_REMOTE_CONFIG | m.ACCEPTS_OPAMP_CONNECTION_SETTINGS | m.REPORTS_HEARTBEAT


def _msg(
    seq: int, *, description: bool = True, labels: dict[str, str] | None = None, **fields: object
) -> bytes:
    msg = m.AgentToServer(instance_uid=UID, sequence_num=seq, capabilities=CAPS, **fields)  # type: ignore[arg-type]
    if description:
        attrs = {"host.name": "dev1", **{f"fleet.label.{k}": v for k, v in (labels or {}).items()}}
        msg.agent_description.non_identifying_attributes.extend(m.key_values(attrs))
    return bytes(msg.SerializeToString())


def _answer(state: FleetState, data: bytes) -> m.ServerToAgent:
    return m.ServerToAgent.FromString(state.handle(data, now=1.0))


def test_new_agent_gets_capabilities_and_heartbeat_interval() -> None:
    """The first answer carries the server capabilities and the offered heartbeat interval, once."""
    state = FleetState(heartbeat_interval=7)
    first = _answer(state, _msg(0))
    assert first.capabilities & m.SERVER_OFFERS_REMOTE_CONFIG
    assert first.connection_settings.opamp.heartbeat_interval_seconds == 7
    assert not first.flags & m.REPORT_FULL_STATE
    assert not _answer(state, _msg(1, description=False)).HasField("connection_settings")


@pytest.mark.parametrize(("first", "second", "full"), [(0, 1, False), (0, 2, True), (5, 5, True)])
def test_sequence_gap_asks_for_full_state(first: int, second: int, full: bool) -> None:
    """A sequence_num that is not exactly one more asks for ReportFullState."""
    state = FleetState()
    _answer(state, _msg(first))
    assert bool(_answer(state, _msg(second, description=False)).flags & m.REPORT_FULL_STATE) == full


def test_unknown_agent_without_description_asks_for_full_state() -> None:
    """A server that restarted sees a compressed message from a stranger and asks for everything."""
    assert _answer(FleetState(), _msg(41, description=False)).flags & m.REPORT_FULL_STATE


def test_config_offered_until_the_agent_reports_its_hash() -> None:
    """The desired config is offered while the agent's last_remote_config_hash differs, then no more."""
    state = FleetState()
    _answer(state, _msg(0, labels={"ring": "canary"}))
    desired = state.push(
        state.select(labels={"ring": "canary"}), {"agent.toml": (b"x = 1", "application/toml")}
    )
    offered = _answer(state, _msg(1, description=False))
    assert offered.remote_config.config_hash == desired.config_hash
    assert offered.remote_config.config.config_map["agent.toml"].body == b"x = 1"
    status = m.RemoteConfigStatus(last_remote_config_hash=desired.config_hash, status=m.STATUS_APPLIED)  # type: ignore[arg-type]
    assert not _answer(state, _msg(2, description=False, remote_config_status=status)).HasField(
        "remote_config"
    )
    assert state.agents[UID].summary()["remote_config"]["status"] == "APPLIED"


def test_selection_by_label_and_uid_prefix() -> None:
    """Agents are selected by every given label, or by a prefix of their UID."""
    state = FleetState()
    _answer(state, _msg(0, labels={"ring": "canary", "site": "a"}))
    assert state.select(labels={"ring": "canary"}) and state.select(labels={"ring": "canary", "site": "a"})
    assert not state.select(labels={"ring": "stable"})
    assert state.select(uid=m.uid_text(UID)[:8]) and not state.select(uid="ffff")


def test_malformed_message_is_a_bad_request() -> None:
    """Garbage or a short instance_uid gets error_response BAD_REQUEST, per the spec."""
    state = FleetState()
    bad = m.ServerToAgent.FromString(state.handle(b"\xff\x01"))
    assert bad.error_response.type == m.ERROR_BAD_REQUEST
    short = m.AgentToServer(instance_uid=b"abc").SerializeToString()
    assert "16 bytes" in m.ServerToAgent.FromString(state.handle(short)).error_response.error_message


def test_csr_without_ca_is_refused_and_with_ca_answered() -> None:
    """A CSR with no CA configured is a BAD_REQUEST; with a signer the certificate is offered."""
    request = m.opamp_pb2.ConnectionSettingsRequest()
    request.opamp.certificate_request.csr = b"CSR"
    state = FleetState()
    _answer(state, _msg(0))
    refused = _answer(state, _msg(1, description=False, connection_settings_request=request))
    assert refused.error_response.type == m.ERROR_BAD_REQUEST
    signed: list[tuple[bytes, str]] = []

    def signer(csr: bytes, cn: str) -> tuple[bytes, bytes]:
        signed.append((csr, cn))
        return b"CERT", b"CA"

    state.csr_signer = signer
    answer = _answer(state, _msg(2, description=False, connection_settings_request=request))
    assert signed == [(b"CSR", m.uid_text(UID))]
    cert = answer.connection_settings.opamp.certificate
    assert (cert.cert, cert.private_key, cert.ca_cert) == (b"CERT", b"", b"CA")


def test_apply_time_runs_from_first_offer_to_applied() -> None:
    """apply_seconds is the time between the first offer of a config and its APPLIED report."""
    state = FleetState()
    state.handle(_msg(0), now=100.0)
    desired = state.push(state.select(), {"agent.toml": (b"x = 1", "application/toml")})
    state.handle(_msg(1, description=False), now=110.0)  # offered
    applying = m.RemoteConfigStatus(last_remote_config_hash=desired.config_hash, status=m.STATUS_APPLYING)  # type: ignore[arg-type]
    state.handle(_msg(2, description=False, remote_config_status=applying), now=111.0)
    applied = m.RemoteConfigStatus(last_remote_config_hash=desired.config_hash, status=m.STATUS_APPLIED)  # type: ignore[arg-type]
    state.handle(_msg(3, description=False, remote_config_status=applied), now=112.5)
    assert state.agents[UID].summary()["apply_seconds"] == 2.5
