"""OTLP/HTTP response classification per DESIGN.md, plus credential refusals."""

from __future__ import annotations

import email.utils

import pytest

from edge_agent.export.otlp_http import classify, parse_retry_after
from tests.export.faulty import partial_body

NGINX_400 = b"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n</html>"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "kind", "rejected"),
    [
        (200, b"", None, "success", 0),  # rotel: empty body
        (200, partial_body(0, ""), "application/x-protobuf", "success", 0),
        (200, partial_body(4, "bad"), "application/x-protobuf", "partial", 4),
        (200, b'{"partialSuccess": {"rejectedSpans": 2}}', "application/json", "partial", 2),
        (202, b"\xff\xff garbled", "application/x-protobuf", "success", 0),
        (429, b"", None, "retry", 0),
        (502, b"", None, "retry", 0),
        (503, b"", None, "retry", 0),
        (504, b"", None, "retry", 0),
        (401, b"", None, "auth", 0),
        (403, b"", None, "auth", 0),
        (400, NGINX_400, "text/html", "auth", 0),
        (400, b"bad request", "text/plain", "permanent", 0),
        (404, b"", None, "permanent", 0),
        (413, b"", None, "permanent", 0),
        (500, b"", None, "permanent", 0),
    ],
)
def test_classification(status: int, body: bytes, content_type: str | None, kind: str, rejected: int) -> None:
    """Each status/body maps to the outcome DESIGN.md prescribes (auth: kept, see module docs)."""
    outcome = classify(status, body, content_type=content_type, retry_after=None)
    assert (outcome.kind, outcome.rejected) == (kind, rejected)


def test_nginx_refusal_message_names_the_client_certificate() -> None:
    """The auth outcome for nginx's page says the client certificate was refused."""
    outcome = classify(400, NGINX_400, content_type="text/html", retry_after=None)
    assert "client certificate" in outcome.message and "No required SSL" in outcome.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), (" 5 ", 5.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    """Retry-After in seconds parses; junk is ignored (backoff applies)."""
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    """Retry-After as an HTTP date is the time from now until then (never negative)."""
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == pytest.approx(90)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == 0.0
