"""Sans-IO request decoding for the OTLP/HTTP receiver: negotiate, decompress with a cap, validate.

Theory of operation: a request body goes through three checks, each of
which can reject it with an HTTP status and a google.rpc code:

1. **Negotiation**: ``Content-Type`` must be ``application/x-protobuf`` or
   ``application/json`` (415 otherwise); ``Content-Encoding`` must be
   identity, ``gzip`` or ``zstd`` (415 otherwise, or when zstd support is not
   installed).
2. **Decompression with a cap**: the output is produced incrementally and
   never grows past ``max_decompressed + 1`` bytes, so a gzip bomb costs at
   most the cap in memory and the CPU to inflate it (413).
3. **Validation**: protobuf is parsed into a fresh message and counted, and
   the bytes that came in are kept as they are; JSON is converted to
   protobuf (the buffer stores protobuf only). Bad data is a 400.

Everything here is CPU-bound and synchronous; the trio shell calls it in a
worker thread for large bodies.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from edge_agent import OtlpFormatError, Signal, otlp_json_to_protobuf, validate_otlp

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# google.rpc.Code values used in Status replies
INVALID_ARGUMENT = 3
NOT_FOUND = 5
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
UNAVAILABLE = 14
UNAUTHENTICATED = 16


class Rejected(Exception):
    """The request cannot be accepted; ``status`` is the HTTP status, ``code`` the google.rpc code."""

    def __init__(self, status: int, code: int, message: str, *, event: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.event = event  # the ctx.count event name for this kind of rejection


@dataclass(frozen=True)
class Decoded:
    payload: bytes  # protobuf Export*ServiceRequest bytes to store
    records: int


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; raises 415 for anything else."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, JSON):
        return kind
    raise Rejected(
        415,
        INVALID_ARGUMENT,
        f"unsupported Content-Type {content_type!r}; send {PROTOBUF} or {JSON}",
        event="unsupported_media_type",
    )


def check_encoding(content_encoding: str | None) -> str:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", "gzip"):
        return encoding
    if encoding == "zstd":
        try:
            import zstandard  # noqa: F401
        except ImportError:
            raise Rejected(
                415,
                UNIMPLEMENTED,
                "Content-Encoding zstd is not available on this agent (install edge-agent[zstd])",
                event="unsupported_encoding",
            ) from None
        return encoding
    raise Rejected(
        415,
        UNIMPLEMENTED,
        f"unsupported Content-Encoding {content_encoding!r}; use gzip, zstd or none",
        event="unsupported_encoding",
    )


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate ``body``, refusing (413) as soon as the output would pass ``limit`` bytes."""
    if encoding == "identity":
        data = body
    elif encoding == "gzip":
        data = _gunzip_capped(body, limit)
    else:
        data = _unzstd_capped(body, limit)
    if len(data) > limit:
        raise _too_big(limit)
    return data


def _too_big(limit: int) -> Rejected:
    return Rejected(
        413,
        RESOURCE_EXHAUSTED,
        f"decompressed body exceeds the limit of {limit} bytes (max_decompressed_body)",
        event="too_large",
    )


def _gunzip_capped(body: bytes, limit: int) -> bytes:
    out: list[bytes] = []
    produced = 0
    rest = body
    while rest:  # a gzip body may hold several members (RFC 1952); inflate them all
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit + 1 - produced)
        except zlib.error as exc:
            raise Rejected(
                400, INVALID_ARGUMENT, f"body is not valid gzip: {exc}", event="bad_data"
            ) from None
        produced += len(chunk)
        out.append(chunk)
        if produced > limit:
            raise _too_big(limit)
        if not inflater.eof:
            raise Rejected(400, INVALID_ARGUMENT, "gzip body is truncated", event="bad_data")
        rest = inflater.unused_data
    return b"".join(out)


def _unzstd_capped(body: bytes, limit: int) -> bytes:
    """One zstd frame, at most ``limit`` bytes out; truncation is a 400, not silence."""
    import zstandard

    bad = "body is not valid zstd"
    try:
        declared = zstandard.frame_content_size(body)
    except zstandard.ZstdError as exc:
        raise Rejected(400, INVALID_ARGUMENT, f"{bad}: {exc}", event="bad_data") from None
    if declared > limit:
        raise _too_big(limit)
    try:
        return bytes(zstandard.ZstdDecompressor().decompress(body, max_output_size=limit + 1))
    except zstandard.ZstdError as exc:
        # "did not decompress full frame" means truncated *or* larger than the
        # cap when the frame does not declare its size: tell them apart
        if declared < 0 and _zstd_exceeds(body, limit):
            raise _too_big(limit) from None
        raise Rejected(400, INVALID_ARGUMENT, f"{bad}: {exc}", event="bad_data") from None


def _zstd_exceeds(body: bytes, limit: int) -> bool:
    import io

    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body))
    try:
        return len(reader.read(limit + 1)) > limit
    except zstandard.ZstdError:
        return False


def decode(signal: Signal, body: bytes, kind: str, encoding: str, limit: int) -> Decoded:
    """Decompress and validate one request body (blocking, CPU-bound)."""
    data = decompress(body, encoding, limit)
    try:
        if kind == PROTOBUF:
            return Decoded(data, validate_otlp(signal, data))
        payload, records = otlp_json_to_protobuf(signal, data)
    except OtlpFormatError as exc:
        raise Rejected(400, INVALID_ARGUMENT, str(exc), event="bad_data") from None
    return Decoded(payload, records)


def status_body(code: int, message: str, kind: str) -> bytes:
    """A ``google.rpc.Status`` in the request's encoding (protobuf, or JSON otherwise)."""
    if kind == PROTOBUF:
        text = message.encode("utf-8")
        return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
    import json

    return json.dumps({"code": code, "message": message}).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
