"""Compression: one gzip member per body, merges decompress-concatenate-recompress, sizes are checked."""

from __future__ import annotations

import gzip
import zlib

import pytest

from edge_agent.buffer import codecs


@pytest.mark.parametrize("codec", ["identity", "gzip", "zstd"])
def test_round_trip(codec: str) -> None:
    """compress then decompress gives the input back."""
    data = b"otlp bytes " * 1000
    assert codecs.decompress(codec, codecs.compress(codec, data), len(data)) == data  # type: ignore[arg-type]


def test_merged_gzip_body_is_a_single_member() -> None:
    """Merging two gzip frames yields one member holding both payloads (never gzip(a)+gzip(b))."""
    a, b = b"first request " * 50, b"second request " * 50
    parts = [("gzip", codecs.compress("gzip", a), len(a)), ("gzip", codecs.compress("gzip", b), len(b))]
    body = codecs.merge(parts, "gzip")
    unpacker = zlib.decompressobj(31)
    assert unpacker.decompress(body) == a + b
    assert unpacker.eof and unpacker.unused_data == b""
    assert gzip.decompress(body) == a + b


def test_merge_converts_between_codecs() -> None:
    """zstd frames can be sent as gzip, gzip frames as identity."""
    data = b"payload" * 100
    assert gzip.decompress(codecs.merge([("zstd", codecs.compress("zstd", data), len(data))], "gzip")) == data
    assert codecs.merge([("gzip", codecs.compress("gzip", data), len(data))], "identity") == data


@pytest.mark.parametrize(
    ("codec", "data", "size", "message"),
    [
        ("gzip", b"not gzip", 10, "does not decompress"),
        ("gzip", codecs.compress("gzip", b"abc") + codecs.compress("gzip", b"def"), 3, "trailing"),
        ("gzip", codecs.compress("gzip", b"abcdef")[:-4], 6, "truncated"),
        ("gzip", codecs.compress("gzip", b"abcdef"), 5, "envelope says 5"),
        ("identity", b"abc", 4, "envelope says 4"),
        ("zstd", b"\x28\xb5\x2f\xfd junk", 4, "does not decompress"),
    ],
)
def test_bad_payloads_raise_codec_error(codec: str, data: bytes, size: int, message: str) -> None:
    """Truncated, multi-member, foreign or wrongly sized payloads are refused with a reason."""
    with pytest.raises(codecs.CodecError, match=message):
        codecs.decompress(codec, data, size)


def test_forged_zstd_raw_size_is_refused_without_allocating_it() -> None:
    """A frame whose envelope claims a huge raw size (found reviewing the fuzz targets) is a CodecError,
    not a MemoryError or a terabyte allocation: the zstd frame must declare the same size."""
    import zstandard

    undeclared = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 100)
    with pytest.raises(codecs.CodecError, match="declares -1 bytes, envelope says 1099511627776"):
        codecs.decompress("zstd", undeclared, 2**40)
    declared = codecs.compress("zstd", b"x" * 100)
    with pytest.raises(codecs.CodecError, match="declares 100 bytes, envelope says 1099511627776"):
        codecs.decompress("zstd", declared, 2**40)
