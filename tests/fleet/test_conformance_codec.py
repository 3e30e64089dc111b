"""Our OpAMP messages against an independent implementation's: the PyPI opentelemetry-opamp-client.

Its generated classes (``opentelemetry._opamp.proto``, package ``opamp.proto``)
predate the current specification. Messages encoded by our module decode
with its classes, and the other way round, for every field both know; the
fields only we know survive a trip through its classes as unknown fields.
The differences are pinned here and listed in docs/fleet.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from edge_agent.fleet import messages as m
from edge_agent.fleet._proto import opamp_pb2 as ours
from tests.peers import require

# what the current spec (and our module) has that opentelemetry-opamp-client 0.5b0 lacks
MISSING_IN_PEER = {
    "AgentToServer": {"connection_settings_status"},
    "OpAMPConnectionSettings": {"tls", "proxy"},
    "TelemetryConnectionSettings": {"tls", "proxy"},
    "OtherConnectionSettings": {"tls", "proxy"},
    "TLSConnectionSettings": "message",
    "ProxyConnectionSettings": "message",
    "ConnectionSettingsStatus": "message",
    "ConnectionSettingsStatuses": "enum",
    "AgentCapabilities": {"AgentCapabilities_ReportsConnectionSettingsStatus"},
}


@pytest.fixture(scope="module")
def theirs() -> Any:
    require("opamp-client")
    from opentelemetry._opamp.proto import opamp_pb2

    return opamp_pb2


def _full_agent_to_server() -> ours.AgentToServer:
    msg = ours.AgentToServer(
        instance_uid=m.uuid7(1_700_000_000_000), sequence_num=41, capabilities=0xB807, flags=1
    )
    msg.agent_description.identifying_attributes.extend(m.key_values({"service.name": "edge-agent", "n": 3}))
    msg.agent_description.non_identifying_attributes.extend(
        m.key_values({"host.arch": "aarch64", "ok": True})
    )
    msg.health.healthy = False
    msg.health.start_time_unix_nano = 1
    msg.health.last_error = "exporter: refused"
    msg.health.component_health_map["exporter"].status = "upstream unreachable"
    msg.effective_config.config_map.config_map["agent.toml"].body = b"[agent]\n"
    msg.effective_config.config_map.config_map["agent.toml"].content_type = "application/toml"
    msg.remote_config_status.last_remote_config_hash = b"h" * 32
    msg.remote_config_status.status = ours.RemoteConfigStatuses_FAILED
    msg.remote_config_status.error_message = "refused: bad signature"
    msg.connection_settings_request.opamp.certificate_request.csr = b"-----BEGIN CERTIFICATE REQUEST-----"
    msg.connection_settings_status.last_connection_settings_hash = b"c"
    msg.connection_settings_status.status = ours.ConnectionSettingsStatuses_APPLIED
    return msg


def _full_server_to_agent(pb: Any) -> Any:
    msg = pb.ServerToAgent(instance_uid=b"u" * 16, flags=1, capabilities=0x7F)
    msg.remote_config.config_hash = b"x" * 32
    msg.remote_config.config.config_map["agent.toml"].body = b'[plugins.base]\ntag = "v2"\n'
    msg.remote_config.config.config_map["agent.toml.sig"].body = b'format = "edge-agent-config-signature/1"\n'
    msg.connection_settings.hash = b"o"
    msg.connection_settings.opamp.heartbeat_interval_seconds = 15
    msg.connection_settings.opamp.certificate.cert = b"CERT"
    msg.connection_settings.opamp.certificate.ca_cert = b"CA"
    msg.agent_identification.new_instance_uid = b"n" * 16
    return msg


def _known_to(msg: Any, descriptor_pool_message: Any) -> dict[str, Any]:
    """``msg`` as a dict, keeping only the fields the other side's message type declares (recursively)."""
    as_dict = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    return _prune(as_dict, descriptor_pool_message)


def _prune(value: Any, descriptor: Any) -> Any:
    if not isinstance(value, dict) or descriptor is None:
        return value
    out = {}
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key)
        if field is None:
            continue
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            value_field = sub.fields_by_name["value"]
            out[key] = {k: _prune(v, value_field.message_type) for k, v in item.items()}
        elif isinstance(item, list):
            out[key] = [_prune(v, sub) for v in item]
        else:
            out[key] = _prune(item, sub)
    return out


def test_ours_decodes_with_theirs(theirs: Any) -> None:
    """An AgentToServer we encode decodes with the peer's classes, equal on every shared field."""
    msg = _full_agent_to_server()
    decoded = theirs.AgentToServer.FromString(msg.SerializeToString())
    assert json_format.MessageToDict(decoded, preserving_proto_field_name=True) == _known_to(
        msg, theirs.AgentToServer.DESCRIPTOR
    )


def test_theirs_decodes_with_ours(theirs: Any) -> None:
    """A ServerToAgent the peer encodes decodes with our classes, field for field."""
    msg = _full_server_to_agent(theirs)
    decoded = ours.ServerToAgent.FromString(msg.SerializeToString())
    assert json_format.MessageToDict(decoded, preserving_proto_field_name=True) == json_format.MessageToDict(
        msg, preserving_proto_field_name=True
    )


def test_newer_fields_survive_a_trip_through_the_older_peer(theirs: Any) -> None:
    """Fields the peer does not know are kept as unknown fields and re-emitted intact."""
    msg = _full_agent_to_server()
    through = theirs.AgentToServer.FromString(msg.SerializeToString()).SerializeToString()
    assert ours.AgentToServer.FromString(through) == msg


def test_peer_uses_the_same_capability_bits(theirs: Any) -> None:
    """Every capability and status value both define has the same number."""
    for enum_name in (
        "AgentCapabilities",
        "ServerCapabilities",
        "RemoteConfigStatuses",
        "ServerToAgentFlags",
    ):
        mine = {v.name: v.number for v in ours.DESCRIPTOR.enum_types_by_name[enum_name].values}
        peer = {v.name: v.number for v in theirs.DESCRIPTOR.enum_types_by_name[enum_name].values}
        assert {k: mine[k] for k in peer} == peer


def test_documented_differences_are_exactly_these(theirs: Any) -> None:
    """The peer lacks exactly the fields, messages and enum values listed in MISSING_IN_PEER (and docs)."""
    found: dict[str, Any] = {}
    for name, message in ours.DESCRIPTOR.message_types_by_name.items():
        peer = theirs.DESCRIPTOR.message_types_by_name.get(name)
        if peer is None:
            found[name] = "message"
            continue
        missing = set(message.fields_by_name) - set(peer.fields_by_name)
        if missing:
            found[name] = missing
    for name, enum in ours.DESCRIPTOR.enum_types_by_name.items():
        peer_enum = theirs.DESCRIPTOR.enum_types_by_name.get(name)
        if peer_enum is None:
            found[name] = "enum"
            continue
        missing = {v.name for v in enum.values} - {v.name for v in peer_enum.values}
        if missing:
            found[name] = missing
    assert found == MISSING_IN_PEER
    assert theirs.DESCRIPTOR.package == "opamp.proto" and ours.DESCRIPTOR.package == "opamp.v1"
