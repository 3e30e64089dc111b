"""The committed generated module is the .proto in the repository (tools/gen_opamp.py was run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from edge_agent.fleet._proto import anyvalue_pb2, opamp_pb2

ROOT = Path(__file__).parent.parent.parent
PROTO_ROOT = ROOT / "edge_agent" / "fleet" / "proto"


def _compiled(tmp_path: Path) -> descriptor_pb2.FileDescriptorSet:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is in the dev extra")
    out = tmp_path / "set.pb"
    code = subprocess.call(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--descriptor_set_out={out}",
            "opamp/v1/anyvalue.proto",
            "opamp/v1/opamp.proto",
        ]
    )
    assert code == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _without_json_names(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """protoc adds json_name to descriptor sets, not to the descriptors it embeds in _pb2 modules."""
    stack = list(file.message_type)
    while stack:
        message = stack.pop()
        for field in message.field:
            field.ClearField("json_name")
        stack.extend(message.nested_type)
    return file


def test_committed_module_matches_the_proto(tmp_path: Path) -> None:
    """The descriptors compiled now from the .proto files equal the ones in the committed modules."""
    compiled = {f.name: _without_json_names(f) for f in _compiled(tmp_path).file}
    for module in (anyvalue_pb2, opamp_pb2):
        committed = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert committed == compiled[committed.name], (
            f"{committed.name} is stale: run python tools/gen_opamp.py"
        )


@pytest.mark.parametrize(
    ("message", "field", "number"),
    [
        ("AgentToServer", "instance_uid", 1),
        ("AgentToServer", "connection_settings_status", 15),
        ("ServerToAgent", "command", 9),
        ("OpAMPConnectionSettings", "heartbeat_interval_seconds", 4),
        ("TLSCertificate", "ca_cert", 3),
        ("ComponentHealth", "status_time_unix_nano", 5),
        ("RemoteConfigStatus", "error_message", 3),
    ],
)
def test_spec_field_numbers(message: str, field: str, number: int) -> None:
    """Spot checks against the specification's field numbers."""
    assert opamp_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name[field].number == number


def test_generated_code_has_no_runtime_version_pin() -> None:
    """The gencode imports under protobuf >= 4.25 (no protoc-version runtime check)."""
    assert "runtime_version" not in Path(opamp_pb2.__file__).read_text()
