"""Compression of frame payloads and request bodies (sans-IO).

gzip is always a single member: a body made of several members is valid
gzip, but some collectors decode only the first member and answer 200
(rotel, see DESIGN.md), so merging frames always decompresses, concatenates
the OTLP bytes (protobuf merges repeated fields) and compresses once.
zstd needs the ``zstd`` extra (``zstandard``), imported on first use.
"""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Iterable
from typing import Any

from edge_agent.buffer.api import Encoding

# Bodies merged for sending (several frames recompressed as one request) favour size: they
# cross the (possibly metered) link. Frames favour speed: they are written on every commit,
# and on small payloads the ratio hardly depends on the level (see docs/performance.md).
DEFAULT_LEVEL = {"identity": 0, "gzip": 6, "zstd": 3}
FRAME_LEVEL = {"identity": 0, "gzip": 1, "zstd": 1}


class CodecError(ValueError):
    """Compressed bytes that do not decompress to what their envelope says."""


def zstd_available() -> bool:
    return importlib.util.find_spec("zstandard") is not None


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise CodecError("zstd data needs the zstd extra: pip install 'edge-agent[zstd]'") from None
    return zstandard


def compress(codec: Encoding, data: bytes, level: int | None = None) -> bytes:
    if codec == "identity":
        return data
    if level is None:
        level = DEFAULT_LEVEL[codec]
    if codec == "gzip":
        packer = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: one gzip member
        return packer.compress(data) + packer.flush()
    return bytes(_zstandard().ZstdCompressor(level=level).compress(data))


def decompress(codec: str, data: bytes, raw_size: int) -> bytes:
    """Decompress ``data`` and check it has exactly ``raw_size`` bytes."""
    if codec == "identity":
        out = data
    elif codec == "gzip":
        unpacker = zlib.decompressobj(31)
        try:
            out = unpacker.decompress(data, raw_size + 1)
        except zlib.error as exc:
            raise CodecError(f"gzip payload does not decompress: {exc}") from None
        if not unpacker.eof or unpacker.unused_data:
            raise CodecError("gzip payload is truncated or has trailing data")
    elif codec == "zstd":
        zstandard = _zstandard()
        # zstandard allocates max_output_size up front: a damaged or forged raw_size must not
        # become a huge allocation, so the frame's own declared size has to agree first
        try:
            declared = zstandard.frame_content_size(data)
        except zstandard.ZstdError as exc:
            raise CodecError(f"zstd payload does not decompress: {exc}") from None
        if declared != raw_size:
            raise CodecError(
                f"zstd payload does not decompress: it declares {declared} bytes, envelope says {raw_size}"
            )
        try:
            out = bytes(zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_size + 1))
        except (zstandard.ZstdError, MemoryError) as exc:
            raise CodecError(f"zstd payload does not decompress: {exc or type(exc).__name__}") from None
    else:
        raise CodecError(f"unknown codec {codec!r}")
    if len(out) != raw_size:
        raise CodecError(f"payload decompresses to {len(out)} bytes, envelope says {raw_size}")
    return out


def merge(parts: Iterable[tuple[str, bytes, int]], wire: Encoding, level: int | None = None) -> bytes:
    """One body in ``wire`` encoding from ``(codec, data, raw_size)`` parts: decompress,
    concatenate, compress once."""
    raw = b"".join(decompress(codec, data, size) for codec, data, size in parts)
    return compress(wire, raw, level)
