"""The admin endpoint behind a bearer token, served by the real HTTP server on loopback."""

from __future__ import annotations

import logging

import pytest
import trio

from edge_agent.admin.endpoint import AdminEndpoint
from edge_agent.httpserver import HttpServer, ServerLimits
from edge_agent.runtime.telemetry import Registry

TOKEN = "adm-5b2f0e9c4417"


async def _get(address: tuple[str, int], path: str, auth: str | None = None) -> bytes:
    stream = await trio.open_tcp_stream(*address)
    async with stream:
        header = f"Authorization: {auth}\r\n" if auth is not None else ""
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n".encode())
        chunks = []
        while chunk := await stream.receive_some(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_every_route_but_healthz_needs_the_token(caplog: pytest.LogCaptureFixture) -> None:
    """Missing or wrong tokens get 401 (logged once, without the token); the right one gets 200."""
    endpoint = AdminEndpoint(Registry(), lambda: {"ok": True}, lambda: (True, "ready"), token=TOKEN)
    async with trio.open_nursery() as nursery:
        address = await nursery.start(HttpServer(endpoint.handle, ServerLimits()).serve_tcp, "127.0.0.1", 0)
        with caplog.at_level(logging.WARNING, logger="edge_agent.admin"):
            missing = await _get(address, "/status")
            wrong = await _get(address, "/metrics", "Bearer adm-5b2f0e9c441")
            basic = await _get(address, "/readyz", f"Basic {TOKEN}")
        right = await _get(address, "/status", f"Bearer {TOKEN}")
        health = await _get(address, "/healthz")
        nursery.cancel_scope.cancel()
    for reply in (missing, wrong, basic):
        assert reply.startswith(b"HTTP/1.1 401")
        assert b'WWW-Authenticate: Bearer realm="edge-agent"' in reply
    assert right.startswith(b"HTTP/1.1 200") and b'"ok": true' in right
    assert health.startswith(b"HTTP/1.1 200")
    assert len(caplog.records) == 1 and "missing or wrong bearer token" in caplog.text
    assert TOKEN[:-1] not in caplog.text


async def test_without_a_token_everything_is_open_on_loopback() -> None:
    """The default (loopback, no token) keeps today's behaviour."""
    endpoint = AdminEndpoint(Registry(), dict, lambda: (True, "ready"))
    async with trio.open_nursery() as nursery:
        address = await nursery.start(HttpServer(endpoint.handle, ServerLimits()).serve_tcp, "127.0.0.1", 0)
        reply = await _get(address, "/status")
        nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 200")
