"""Sans-IO decoding for the OTLP receiver: negotiation, capped decompression, validation."""

from __future__ import annotations

import gzip
import json

import pytest
import zstandard

from edge_agent import Signal
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import TracesBuilder
from edge_agent_plugins.otlp import decode
from edge_agent_plugins.otlp.decode import JSON, PROTOBUF, Rejected


def _spans(n: int = 3) -> bytes:
    b = TracesBuilder(attributes.resource({"service.name": "a"}), attributes.scope("s"))
    for i in range(n):
        b.span(
            "op", trace_id=bytes(range(16)), span_id=i.to_bytes(8, "big") or b"\1" * 8, start_ns=1, end_ns=2
        )
    return b.build().payload


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", PROTOBUF),
        ("application/json; charset=utf-8", JSON),
        ("Application/JSON", JSON),
    ],
)
def test_media_type_accepts_protobuf_and_json(header: str, expected: str) -> None:
    """Content types are matched case-insensitively, ignoring parameters."""
    assert decode.media_type(header) == expected


@pytest.mark.parametrize("header", [None, "text/plain", "application/grpc", "multipart/form-data"])
def test_media_type_rejects_others_with_415(header: str | None) -> None:
    """A missing or wrong content type is a 415 that names the accepted types."""
    with pytest.raises(Rejected, match="application/x-protobuf") as info:
        decode.media_type(header)
    assert info.value.status == 415


def test_unknown_encoding_is_415() -> None:
    """Content-Encoding other than identity, gzip or zstd is refused with 415."""
    with pytest.raises(Rejected, match="br") as info:
        decode.check_encoding("br")
    assert info.value.status == 415
    assert decode.check_encoding("GZIP") == "gzip"
    assert decode.check_encoding(None) == "identity"


def test_gzip_and_zstd_bodies_decode_to_the_same_records() -> None:
    """gzip (including multi-member) and zstd bodies yield the original protobuf bytes and count."""
    raw = _spans(4)
    for body, enc in (
        (raw, "identity"),
        (gzip.compress(raw), "gzip"),
        (gzip.compress(raw[:10]) + gzip.compress(raw[10:]), "gzip"),
        (zstandard.ZstdCompressor().compress(raw), "zstd"),
    ):
        decoded = decode.decode(Signal.TRACES, body, PROTOBUF, enc, 1 << 20)
        assert (decoded.payload, decoded.records) == (raw, 4)


def test_gzip_bomb_is_stopped_at_the_cap() -> None:
    """A 1 GB gzip bomb (1 MB on the wire) is refused with 413 after inflating at most cap+1 bytes."""
    compressor = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    bomb = compressor * 16  # 16 members of 64 MiB zeros each = 1 GiB inflated
    with pytest.raises(Rejected, match="exceeds the limit of 1048576") as info:
        decode.decompress(bomb, "gzip", 1 << 20)
    assert info.value.status == 413


def test_zstd_bomb_is_stopped_at_the_cap() -> None:
    """zstd bombs are refused whether or not the frame declares its size."""
    declared = zstandard.ZstdCompressor().compress(b"\0" * (32 << 20))
    compressor = zstandard.ZstdCompressor().compressobj()
    undeclared = compressor.compress(b"\0" * (32 << 20)) + compressor.flush()
    for bomb in (declared, undeclared):
        with pytest.raises(Rejected) as info:
            decode.decompress(bomb, "zstd", 1 << 20)
        assert info.value.status == 413


@pytest.mark.parametrize(
    ("body", "encoding", "needle"),
    [
        (gzip.compress(b"x" * 1000)[:-12], "gzip", "truncated"),
        (b"\x1f\x8b not gzip at all", "gzip", "not valid gzip"),
        (zstandard.ZstdCompressor().compress(b"x" * 1000)[:-4], "zstd", "not valid zstd"),
        (b"garbage garbage", "zstd", "not valid zstd"),
    ],
)
def test_broken_compression_is_400(body: bytes, encoding: str, needle: str) -> None:
    """Truncated or corrupt compressed bodies are a 400 with the reason."""
    with pytest.raises(Rejected, match=needle) as info:
        decode.decompress(body, encoding, 1 << 20)
    assert info.value.status == 400


def test_truncated_protobuf_and_bad_json_are_400() -> None:
    """Truncated protobuf and JSON with wrong types are 400 bad_data."""
    for body, kind in ((_spans()[:-5], PROTOBUF), (json.dumps({"resourceSpans": 1}).encode(), JSON)):
        with pytest.raises(Rejected) as info:
            decode.decode(Signal.TRACES, body, kind, "identity", 1 << 20)
        assert (info.value.status, info.value.event) == (400, "bad_data")


def test_status_body_encodings() -> None:
    """google.rpc.Status is protobuf for protobuf requests and JSON for JSON requests."""
    from google.rpc.status_pb2 import Status

    status = Status.FromString(decode.status_body(3, "bad thing ü", PROTOBUF))
    assert (status.code, status.message) == (3, "bad thing ü")
    assert json.loads(decode.status_body(8, "full", JSON)) == {"code": 8, "message": "full"}
