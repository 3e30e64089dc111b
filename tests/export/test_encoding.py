"""Wire bodies: pass-through, re-encoding, and never more than one gzip member / zstd frame."""

from __future__ import annotations

import gzip
import zlib

import pytest
import zstandard

from edge_agent.buffer.api import Batch
from edge_agent.export.encoding import (
    CorruptBatchError,
    encode_for_wire,
    is_single_gzip_member,
    wire_body,
)
from edge_agent.otlp.fragment import Priority, Signal

RAW = b"".join(i.to_bytes(4, "big") * 3 for i in range(5000))


def _batch(body: bytes, encoding: str, raw_size: int = len(RAW)) -> Batch:
    return Batch(Signal.TRACES, body, encoding, 10, raw_size, Priority.NORMAL)  # type: ignore[arg-type]


def _members(body: bytes) -> int:
    count = 0
    while body:
        d = zlib.decompressobj(wbits=31)
        d.decompress(body)
        body = d.unused_data
        count += 1
    return count


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("source", ["identity", "gzip", "zstd"])
def test_every_combination_round_trips(source: str, compression: str) -> None:
    """Whatever the buffer's encoding and the configured one, the upstream decodes the same bytes."""
    body = {
        "identity": RAW,
        "gzip": gzip.compress(RAW),
        "zstd": zstandard.ZstdCompressor().compress(RAW),
    }[source]
    out, encoding = wire_body(_batch(body, source), compression)
    assert encoding == {"gzip": "gzip", "zstd": "zstd", "none": "identity"}[compression]
    decoded = {
        "gzip": gzip.decompress,
        "zstd": lambda b: zstandard.ZstdDecompressor().decompress(b, max_output_size=len(RAW)),
        "identity": lambda b: b,
    }[encoding](out)
    assert decoded == RAW


def test_matching_single_member_gzip_is_sent_unchanged() -> None:
    """A buffer batch that is one gzip member is sent as it is (compress once)."""
    body = gzip.compress(RAW, 1)
    out, _ = wire_body(_batch(body, "gzip"), "gzip")
    assert out is body


def test_multi_member_gzip_is_rewritten_as_one_member() -> None:
    """Concatenated gzip members (silent loss upstream, DESIGN.md) become exactly one member."""
    half = len(RAW) // 2
    body = gzip.compress(RAW[:half]) + gzip.compress(RAW[half:])
    assert not is_single_gzip_member(body, len(RAW))
    out, _ = wire_body(_batch(body, "gzip"), "gzip")
    assert _members(out) == 1
    assert gzip.decompress(out) == RAW


def test_multi_frame_zstd_is_rewritten_as_one_frame() -> None:
    """Concatenated zstd frames are rewritten as one frame carrying all the bytes."""
    half = len(RAW) // 2
    cctx = zstandard.ZstdCompressor()
    body = cctx.compress(RAW[:half]) + cctx.compress(RAW[half:])
    out, _ = wire_body(_batch(body, "zstd"), "zstd")
    assert zstandard.frame_content_size(out) == len(RAW)
    assert zstandard.ZstdDecompressor().decompress(out) == RAW


@pytest.mark.parametrize(
    ("body", "encoding", "raw_size", "message"),
    [
        (b"\x1f\x8b garbage that is not deflate", "gzip", 100, "cannot decode"),
        (gzip.compress(RAW)[:-20], "gzip", len(RAW), "cannot decode"),
        (gzip.compress(RAW), "gzip", len(RAW) + 1, "envelope says"),
        (b"(\xb5/\xfd broken", "zstd", 10, "zstd"),
    ],
)
def test_corrupt_batches_are_reported(body: bytes, encoding: str, raw_size: int, message: str) -> None:
    """A batch that cannot be decoded raises CorruptBatchError with the reason (the exporter drops it)."""
    with pytest.raises(CorruptBatchError, match=message):
        wire_body(_batch(body, encoding, raw_size), "none")


async def test_large_bodies_are_compressed_off_the_event_loop() -> None:
    """encode_for_wire gives the same bytes for large bodies (compressed in a worker thread)."""
    big = RAW * 10
    out, encoding = await encode_for_wire(_batch(big, "identity", len(big)), "gzip")
    assert encoding == "gzip"
    assert gzip.decompress(out) == big
