"""The sans-IO OpAMP client core: status compression, sequence numbers, full state, offers, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.fleet import messages as m
from edge_agent.fleet.protocol import ClientCore, ProtocolError, Report

UID = bytes(range(16))
CAPS = m.REPORTS_STATUS | m.ACCEPTS_REMOTE_CONFIG | m.REPORTS_HEALTH


def _report(name: str = "dev", healthy: bool = True, status_ns: int = 1, csr: bytes = b"") -> Report:
    return Report(
        description=m.AgentDescription(identifying_attributes=m.key_values({"host.name": name})),
        health=m.ComponentHealth(healthy=healthy, status="running", status_time_unix_nano=status_ns),
        effective_config=m.EffectiveConfig(),
        remote_config_status=m.RemoteConfigStatus(last_remote_config_hash=b"h", status=m.STATUS_APPLIED),  # type: ignore[arg-type]
        csr=csr,
    )


def _sent(data: bytes) -> m.AgentToServer:
    return m.AgentToServer.FromString(data)


def _reply(**fields: object) -> bytes:
    return bytes(m.ServerToAgent(instance_uid=UID, **fields).SerializeToString())  # type: ignore[arg-type]


def _present(msg: m.AgentToServer) -> set[str]:
    return {f.name for f, _ in msg.ListFields()} - {"instance_uid", "sequence_num", "capabilities"}


def test_first_message_carries_everything_then_only_changes() -> None:
    """Status compression: unchanged sub-messages are omitted once the server acknowledged them."""
    core = ClientCore(UID, CAPS)
    first = _sent(core.next_message(_report()))
    assert _present(first) == {"agent_description", "health", "effective_config", "remote_config_status"}
    assert first.capabilities == CAPS and first.instance_uid == UID and first.sequence_num == 0
    core.on_response(_reply())
    second = _sent(core.next_message(_report()))
    assert _present(second) == set()
    assert second.sequence_num == 1
    core.on_response(_reply())
    third = _sent(core.next_message(_report(healthy=False)))
    assert _present(third) == {"health"}


def test_health_timestamps_alone_are_not_news() -> None:
    """A health report that differs only in status_time_unix_nano is not resent."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report(status_ns=1))
    core.on_response(_reply())
    assert not core.has_news(_report(status_ns=999))
    assert _present(_sent(core.next_message(_report(status_ns=999)))) == set()


def test_unanswered_message_is_resent() -> None:
    """Parts of a message that got no response go out again with the next one."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report())
    core.on_failure()
    again = _sent(core.next_message(_report()))
    assert "agent_description" in _present(again)
    assert again.sequence_num == 1  # every message built counts, delivered or not


def test_lost_response_then_state_reverts_is_still_reported() -> None:
    """If the server saw a change but we lost its answer, reverting to the old value is sent, not omitted."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report(healthy=True))
    core.on_response(_reply())
    core.next_message(_report(healthy=False))
    core.on_failure()  # the server may have recorded healthy=False
    back = _sent(core.next_message(_report(healthy=True)))
    assert "health" in _present(back)


def test_report_full_state_flag_resends_everything() -> None:
    """ReportFullState makes the next message carry every sub-message again, right away."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report())
    core.on_response(_reply())
    core.next_message(_report())
    outcome = core.on_response(_reply(flags=m.REPORT_FULL_STATE))
    assert outcome.send_now
    assert _present(_sent(core.next_message(_report()))) == {
        "agent_description",
        "health",
        "effective_config",
        "remote_config_status",
    }


def test_remote_config_offer_is_taken_once_per_hash() -> None:
    """An offer is handed out once; the server re-sending the same hash is not a new offer."""
    core = ClientCore(UID, CAPS)
    remote = m.opamp_pb2.AgentRemoteConfig(config_hash=b"abc")
    remote.config.config_map["agent.toml"].body = b"x = 1"
    remote.config.config_map["agent.toml"].content_type = "application/toml"
    core.next_message(_report())
    offer = core.on_response(_reply(remote_config=remote)).remote_config
    assert offer is not None and offer.files == {"agent.toml": (b"x = 1", "application/toml")}
    core.mark_config_handled(b"abc")
    core.next_message(_report())
    assert core.on_response(_reply(remote_config=remote)).remote_config is None


def test_unavailable_error_backs_off_without_acknowledging() -> None:
    """UNAVAILABLE with retry_info gives the wait; the message counts as not delivered."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report())
    error = m.ServerErrorResponse(type=m.ERROR_UNAVAILABLE)  # type: ignore[arg-type]
    error.retry_info.retry_after_nanoseconds = 7_000_000_000
    outcome = core.on_response(_reply(error_response=error))
    assert outcome.unavailable and outcome.retry_after == 7.0
    assert "agent_description" in _present(_sent(core.next_message(_report())))


def test_bad_request_is_not_retried() -> None:
    """A BAD_REQUEST answer is reported as refused and the same content is not sent again."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report())
    error = m.ServerErrorResponse(type=m.ERROR_BAD_REQUEST, error_message="nope")  # type: ignore[arg-type]
    outcome = core.on_response(_reply(error_response=error))
    assert "bad request" in outcome.refused and "nope" in outcome.refused
    assert _present(_sent(core.next_message(_report()))) == set()


def test_connection_settings_heartbeat_certificate_and_ignored_fields() -> None:
    """Heartbeat interval is adopted, a certificate offered once per hash, endpoint/headers ignored."""
    core = ClientCore(UID, CAPS, default_interval=30)
    offers = m.opamp_pb2.ConnectionSettingsOffers(hash=b"o1")
    offers.opamp.heartbeat_interval_seconds = 5
    offers.opamp.destination_endpoint = "http://elsewhere/v1/opamp"
    offers.opamp.certificate.cert = b"CERT"
    offers.opamp.certificate.ca_cert = b"CA"
    core.next_message(_report())
    outcome = core.on_response(_reply(connection_settings=offers))
    assert core.poll_interval() == 5
    assert outcome.certificate is not None and outcome.certificate.cert_pem == b"CERT"
    assert outcome.certificate.key_pem == b"" and outcome.certificate.offer_hash == b"o1"
    assert any("destination_endpoint" in i for i in outcome.ignored)
    core.next_message(_report())
    assert core.on_response(_reply(connection_settings=offers)).certificate is None


def test_new_instance_uid_is_adopted_with_full_state() -> None:
    """agent_identification.new_instance_uid replaces ours; everything is reported again under it."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report())
    new = bytes(range(16, 32))
    outcome = core.on_response(
        _reply(agent_identification=m.opamp_pb2.AgentIdentification(new_instance_uid=new))
    )
    assert outcome.new_instance_uid == new and outcome.send_now
    msg = _sent(core.next_message(_report()))
    assert msg.instance_uid == new and "agent_description" in _present(msg)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\xff\xff\xff", "not a ServerToAgent"),
        (bytes(m.ServerToAgent(instance_uid=bytes(16)).SerializeToString()), "not ours"),
    ],
)
def test_unusable_answers_raise(body: bytes, error: str) -> None:
    """Garbage or an answer for another instance is a ProtocolError, and the message counts as lost."""
    core = ClientCore(UID, CAPS)
    core.next_message(_report())
    with pytest.raises(ProtocolError, match=error):
        core.on_response(body)
    assert "agent_description" in _present(_sent(core.next_message(_report())))


def test_csr_is_sent_once_and_again_after_full_state() -> None:
    """The CSR goes out once; a full-state request (server lost it) sends it again."""
    core = ClientCore(UID, CAPS)
    first = _sent(core.next_message(_report(csr=b"CSR")))
    assert first.connection_settings_request.opamp.certificate_request.csr == b"CSR"
    core.on_response(_reply())
    assert not _sent(core.next_message(_report(csr=b"CSR"))).HasField("connection_settings_request")
    core.on_response(_reply(flags=m.REPORT_FULL_STATE))
    assert _sent(core.next_message(_report(csr=b"CSR"))).HasField("connection_settings_request")


def test_instance_uid_must_be_16_bytes() -> None:
    """A malformed instance UID is refused at construction."""
    with pytest.raises(ValueError, match="16 bytes"):
        ClientCore(b"short", CAPS)


# -- property: whatever is lost, the server converges to the agent's latest state -----------

_step = st.tuples(
    st.sampled_from(["a", "b"]),  # description variant
    st.booleans(),  # healthy
    st.sampled_from(["ok", "lost_request", "lost_response"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_step, min_size=1, max_size=30))
def test_server_state_converges_despite_losses(steps: list[tuple[str, bool, str]]) -> None:
    """A server applying every message it receives holds the agent's latest state after one clean exchange."""
    core = ClientCore(UID, CAPS)
    server: dict[str, bytes] = {}

    def receive(data: bytes) -> None:
        msg = _sent(data)
        for field, value in msg.ListFields():
            if field.name in ("agent_description", "health"):
                server[field.name] = value.SerializeToString(deterministic=True)

    for name, healthy, fate in steps:
        data = core.next_message(_report(name, healthy))
        if fate == "lost_request":
            core.on_failure()
            continue
        receive(data)
        if fate == "lost_response":
            core.on_failure()
        else:
            core.on_response(_reply())
    final = _report(steps[-1][0], steps[-1][1])
    receive(core.next_message(final))
    core.on_response(_reply())
    assert server["agent_description"] == final.description.SerializeToString(deterministic=True)
    assert server["health"] == final.health.SerializeToString(deterministic=True)  # type: ignore[union-attr]
