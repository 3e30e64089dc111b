"""OpAMP message classes and the small values around them (capability bits, instance UIDs).

The classes come from the module generated from ``proto/opamp/v1/opamp.proto``
(``tools/gen_opamp.py``). Parse received bytes with ``Msg.FromString`` into a
fresh message every time: reusing one message with ``ParseFromString`` grows
RSS without bound under the upb backend (DESIGN.md).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Mapping

from edge_agent.fleet._proto import anyvalue_pb2, opamp_pb2

AgentToServer = opamp_pb2.AgentToServer
ServerToAgent = opamp_pb2.ServerToAgent
AgentDescription = opamp_pb2.AgentDescription
ComponentHealth = opamp_pb2.ComponentHealth
EffectiveConfig = opamp_pb2.EffectiveConfig
RemoteConfigStatus = opamp_pb2.RemoteConfigStatus
ConnectionSettingsStatus = opamp_pb2.ConnectionSettingsStatus
ServerErrorResponse = opamp_pb2.ServerErrorResponse
AgentConfigMap = opamp_pb2.AgentConfigMap
AgentConfigFile = opamp_pb2.AgentConfigFile
KeyValue = anyvalue_pb2.KeyValue
AnyValue = anyvalue_pb2.AnyValue

# AgentCapabilities bits (the spec's values)
REPORTS_STATUS = 0x00000001
ACCEPTS_REMOTE_CONFIG = 0x00000002
REPORTS_EFFECTIVE_CONFIG = 0x00000004
ACCEPTS_OPAMP_CONNECTION_SETTINGS = 0x00000100
REPORTS_HEALTH = 0x00000800
REPORTS_REMOTE_CONFIG = 0x00001000
REPORTS_HEARTBEAT = 0x00002000
REPORTS_CONNECTION_SETTINGS_STATUS = 0x00008000

# ServerCapabilities bits
SERVER_ACCEPTS_STATUS = 0x00000001
SERVER_OFFERS_REMOTE_CONFIG = 0x00000002
SERVER_ACCEPTS_EFFECTIVE_CONFIG = 0x00000004
SERVER_OFFERS_CONNECTION_SETTINGS = 0x00000020
SERVER_ACCEPTS_CONNECTION_SETTINGS_REQUEST = 0x00000040

REPORT_FULL_STATE = 0x00000001  # ServerToAgentFlags

# RemoteConfigStatuses / ConnectionSettingsStatuses share the numbering
STATUS_UNSET = 0
STATUS_APPLIED = 1
STATUS_APPLYING = 2
STATUS_FAILED = 3
STATUS_NAMES = {
    STATUS_UNSET: "UNSET",
    STATUS_APPLIED: "APPLIED",
    STATUS_APPLYING: "APPLYING",
    STATUS_FAILED: "FAILED",
}

ERROR_UNKNOWN = 0
ERROR_BAD_REQUEST = 1
ERROR_UNAVAILABLE = 2

INSTANCE_UID_HEADER = "OpAMP-Instance-UID"
CONTENT_TYPE = "application/x-protobuf"
DEFAULT_PATH = "/v1/opamp"


def uuid7(now_ms: int | None = None, rand: bytes | None = None) -> bytes:
    """A new UUIDv7 (RFC 9562) as 16 bytes: 48-bit Unix milliseconds, then random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    tail = bytearray(os.urandom(10) if rand is None else rand)
    tail[0] = 0x70 | (tail[0] & 0x0F)  # version 7 in the high nibble of byte 6
    tail[2] = 0x80 | (tail[2] & 0x3F)  # RFC 4122 variant in byte 8
    return (ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big") + bytes(tail)


def uid_text(uid: bytes) -> str:
    """The canonical hyphenated form (the ``OpAMP-Instance-UID`` header value, as opamp-go sends it)."""
    return str(uuid.UUID(bytes=uid))


def key_values(attributes: Mapping[str, str | int | bool]) -> list[KeyValue]:
    """OpAMP ``KeyValue`` list from a plain mapping (sorted, so encoding is deterministic)."""
    out = []
    for key in sorted(attributes):
        value = attributes[key]
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        else:
            any_value = AnyValue(string_value=str(value))
        out.append(KeyValue(key=key, value=any_value))
    return out


def attributes_of(values: Iterable[KeyValue]) -> dict[str, str | int | bool | float | None]:
    """A plain dict from a repeated ``KeyValue`` field (scalars only; others become None)."""
    out: dict[str, str | int | bool | float | None] = {}
    for kv in values:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = (
            getattr(kv.value, kind)
            if kind in ("string_value", "int_value", "bool_value", "double_value")
            else None
        )
    return out
