"""OTLP/HTTP response semantics, as a pure function of the response.

Per the OTLP specification (and DESIGN.md):

* 2xx is success. The body may carry ``partial_success`` with a count of
  rejected records: those are counted as dropped (reason ``rejected``) and
  never retried. An empty 2xx body is full success (rotel sends one).
* 429, 502, 503 and 504 are retryable, honouring ``Retry-After`` (seconds or
  an HTTP date).
* 401, 403 and 407, and the 400 that nginx sends when it refuses a client
  certificate (``ssl_verify_client on``), are ``auth``: the agent's
  credentials are wrong, not the data. Deliberately unlike other 4xx, the
  batch is kept and retried (behind the circuit breaker) until the
  credentials are fixed; dropping it would lose data for a config error.
* Every other status is permanent: the batch is dropped and counted, and the
  server's message (a ``google.rpc.Status`` body) is logged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from edge_agent.otlp import wire

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403, 407})
OutcomeKind = Literal["success", "partial", "retry", "auth", "permanent"]
# what nginx puts in its 400 page when ssl_verify_client refuses the client
_CLIENT_CERT_REFUSALS = (b"No required SSL certificate was sent", b"The SSL certificate error")


def is_client_cert_refusal(status: int, body: bytes) -> bool:
    return status == 400 and any(marker in body[:2048] for marker in _CLIENT_CERT_REFUSALS)


@dataclass(frozen=True)
class ExportOutcome:
    kind: OutcomeKind
    status: int = 0
    rejected: int = 0
    retry_after: float | None = None
    message: str = ""


def classify(
    status: int, body: bytes, *, content_type: str | None, retry_after: str | None, now: float | None = None
) -> ExportOutcome:
    """Decide what a response means for the batch that was sent."""
    if 200 <= status < 300:
        rejected, message = parse_partial_success(body, content_type)
        if rejected or message:
            return ExportOutcome("partial", status, rejected=rejected, message=message)
        return ExportOutcome("success", status)
    message = parse_error_message(body, content_type)
    if status in AUTH_STATUSES or is_client_cert_refusal(status, body):
        if is_client_cert_refusal(status, body):
            message = "the upstream refused our client certificate: " + _html_title(body)
        return ExportOutcome("auth", status, message=message)
    if status in RETRYABLE_STATUSES:
        delay = parse_retry_after(retry_after, now=now)
        return ExportOutcome("retry", status, retry_after=delay, message=message)
    return ExportOutcome("permanent", status, message=message)


def _html_title(body: bytes) -> str:
    text = body[:2048].decode("utf-8", "replace")
    start, end = text.find("<title>"), text.find("</title>")
    return text[start + 7 : end].strip() if 0 <= start < end else text[:120].strip()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now; ``None`` if absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        import email.utils  # rare (HTTP-date form); the email package costs ~0.3 MiB RSS

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _is_json(content_type: str | None) -> bool:
    return bool(content_type) and "json" in content_type.lower()  # type: ignore[union-attr]


def parse_partial_success(body: bytes, content_type: str | None) -> tuple[int, str]:
    """``(rejected, error_message)`` from an ``Export*ServiceResponse`` body."""
    if not body:
        return 0, ""
    if _is_json(content_type):
        return _partial_success_json(body)
    try:
        for number, wire_type, value in wire.iter_fields(body):
            if number == 1 and wire_type == wire.WIRE_LEN:
                return _partial_success_fields(value)  # type: ignore[arg-type]
    except wire.WireError:
        return 0, ""  # a garbled success body still means the data was accepted
    return 0, ""


def _partial_success_fields(data: bytes) -> tuple[int, str]:
    rejected, message = 0, ""
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1 and wire_type == wire.WIRE_VARINT:
            rejected = int(value)
        elif number == 2 and isinstance(value, bytes):
            message = value.decode("utf-8", "replace")
    return rejected, message


def _partial_success_json(body: bytes) -> tuple[int, str]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 0, ""
    partial = doc.get("partialSuccess") or doc.get("partial_success") if isinstance(doc, dict) else None
    if not isinstance(partial, dict):
        return 0, ""
    rejected = 0
    for key, value in partial.items():
        if key.lower().startswith("rejected"):
            try:
                rejected = int(value)
            except (TypeError, ValueError):
                rejected = 0
    message = partial.get("errorMessage") or partial.get("error_message") or ""
    return rejected, str(message)


def parse_error_message(body: bytes, content_type: str | None, *, limit: int = 300) -> str:
    """The message of a ``google.rpc.Status`` error body, or a printable prefix of the body."""
    if not body:
        return ""
    if _is_json(content_type):
        try:
            doc = json.loads(body)
            message = doc.get("message") if isinstance(doc, dict) else None
            if isinstance(message, str):
                return message[:limit]
        except (ValueError, UnicodeDecodeError):
            pass
    elif content_type and "protobuf" in content_type:
        try:
            for number, _, value in wire.iter_fields(body):
                if number == 2 and isinstance(value, bytes):
                    return value.decode("utf-8", "replace")[:limit]
        except wire.WireError:
            pass
    if content_type and "html" in content_type.lower():
        return _html_title(body)[:limit]  # proxies (nginx) answer with an HTML page
    text = body[:limit].decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)
