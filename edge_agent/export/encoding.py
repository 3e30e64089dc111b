"""Request bodies for the wire: compress, re-encode, and never send concatenated members.

The buffer may hand over bodies already compressed (``Batch.encoding``).
They are sent as they are when they match ``exporter.compression`` *and*
consist of a single gzip member / zstd frame: DESIGN.md records a collector
that answered 200 to a two-member gzip body and decoded only the first
member (silent loss). Whether a body is one member is checked in O(1): the
gzip trailer's ISIZE (or the zstd frame header's content size) must equal
the batch's uncompressed size. Anything else is decoded and encoded again
as exactly one member.

Functions here are pure and blocking; :func:`encode_for_wire` moves large
bodies to a worker thread.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import trio

from edge_agent.buffer.api import Batch

_THREAD_THRESHOLD = 64 * 1024  # bigger bodies are (de)compressed off the event loop
_DEFAULT_LEVEL = {"gzip": 6, "zstd": 3}
WIRE_ENCODING = {"gzip": "gzip", "zstd": "zstd", "none": "identity"}


class CorruptBatchError(ValueError):
    """A compressed batch that cannot be decoded (its data cannot be delivered)."""


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:
        raise CorruptBatchError(
            "zstd needs the 'zstandard' package: pip install 'edge-agent[zstd]'"
        ) from None
    return zstandard


def is_single_gzip_member(body: bytes, raw_size: int) -> bool:
    if len(body) < 18 or body[:2] != b"\x1f\x8b":
        return False
    return int.from_bytes(body[-4:], "little") == raw_size % (1 << 32)


def is_single_zstd_frame(body: bytes, raw_size: int) -> bool:
    if body[:4] != b"\x28\xb5\x2f\xfd":
        return False
    try:
        return bool(_zstd().frame_content_size(body) == raw_size)
    except Exception:  # zstandard.ZstdError: an unreadable header is not "single frame"
        return False


def decode(body: bytes, encoding: str) -> bytes:
    """The uncompressed bytes of ``body`` (every member / frame)."""
    try:
        if encoding == "identity":
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "zstd":
            return _zstd_decode_all(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptBatchError(f"cannot decode the {encoding} batch: {exc}") from exc
    raise CorruptBatchError(f"unknown batch encoding {encoding!r}")


def _zstd_decode_all(body: bytes) -> bytes:
    zstandard = _zstd()
    out = []
    try:
        while body:
            frame = zstandard.ZstdDecompressor().decompressobj()
            out.append(frame.decompress(body))
            if not frame.eof:
                raise CorruptBatchError("the zstd batch is truncated")
            body = frame.unused_data
    except zstandard.ZstdError as exc:
        raise CorruptBatchError(f"cannot decode the zstd batch: {exc}") from exc
    return b"".join(out)


def encode(raw: bytes, compression: str, level: int = 0) -> bytes:
    if compression == "none":
        return raw
    level = level or _DEFAULT_LEVEL[compression]
    if compression == "gzip":
        return gzip.compress(raw, level, mtime=0)
    return bytes(_zstd().ZstdCompressor(level=level).compress(raw))


def passthrough(batch: Batch, compression: str) -> tuple[bytes, str] | None:
    """The batch's own body if it can go as it is (cheap checks only), else None."""
    wanted = WIRE_ENCODING[compression]
    if batch.encoding != wanted:
        return None
    if wanted == "identity":
        return batch.body, wanted
    if wanted == "gzip":
        single = is_single_gzip_member(batch.body, batch.raw_size)
    else:
        single = is_single_zstd_frame(batch.body, batch.raw_size)
    return (batch.body, wanted) if single else None


def wire_body(batch: Batch, compression: str, level: int = 0) -> tuple[bytes, str]:
    """``(body, content_encoding)`` to send for ``batch`` (``identity`` = no header)."""
    fast = passthrough(batch, compression)
    if fast is not None:
        return fast
    raw = decode(batch.body, batch.encoding)
    if len(raw) != batch.raw_size:
        raise CorruptBatchError(
            f"the batch decodes to {len(raw)} bytes but its envelope says {batch.raw_size}"
        )
    return encode(raw, compression, level), WIRE_ENCODING[compression]


async def encode_for_wire(batch: Batch, compression: str, level: int = 0) -> tuple[bytes, str]:
    fast = passthrough(batch, compression)
    if fast is not None:
        return fast
    if len(batch.body) > _THREAD_THRESHOLD or batch.raw_size > _THREAD_THRESHOLD:
        return await trio.to_thread.run_sync(wire_body, batch, compression, level)
    return wire_body(batch, compression, level)
