"""The HTTP shell: headers, gzip both ways with a size cap, keep-alive, connect errors."""

from __future__ import annotations

import gzip

import pytest
import trio

from edge_agent.errors import ExportTransportError
from edge_agent.fleet import messages as m
from edge_agent.fleet.transport import GZIP_MIN_BYTES, MAX_RESPONSE_BYTES, OpampTransport, opamp_endpoint
from edge_agent.httpserver import HttpServer, Reply, Request

UID = bytes(range(16))


class Recorder:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        return self.reply


async def _serve(nursery: trio.Nursery, recorder: Recorder) -> str:
    host, port = await nursery.start(HttpServer(recorder.handle).serve_tcp, "127.0.0.1", 0)
    return f"http://{host}:{port}"


def test_endpoint_path_defaults_to_v1_opamp() -> None:
    """An URL without a path gets the spec's default /v1/opamp; an explicit path is kept."""
    assert opamp_endpoint("http://fleet:4320").base_path == "/v1/opamp"
    assert opamp_endpoint("https://fleet/custom/opamp").base_path == "/custom/opamp"


async def test_headers_and_small_body_sent_plain(nursery: trio.Nursery) -> None:
    """Content-Type, OpAMP-Instance-UID, configured headers; a heartbeat-sized body is not gzipped."""
    recorder = Recorder(Reply(200, b"", content_type=m.CONTENT_TYPE))
    url = await _serve(nursery, recorder)
    transport = OpampTransport(opamp_endpoint(url), headers={"Authorization": "Bearer t"})
    response = await transport.exchange(b"x" * 10, UID)
    request = recorder.requests[0]
    assert response.status == 200 and request.path == "/v1/opamp" and request.method == "POST"
    assert request.header("content-type") == "application/x-protobuf"
    assert request.header("opamp-instance-uid") == m.uid_text(UID)
    assert request.header("authorization") == "Bearer t"
    assert [k for k, _ in request.headers].count(b"user-agent") == 1
    assert request.header("content-encoding") is None and request.body == b"x" * 10
    await transport.aclose()


async def test_large_bodies_are_gzipped_and_gzip_answers_inflated(nursery: trio.Nursery) -> None:
    """Bodies from GZIP_MIN_BYTES go out gzipped; a gzipped answer comes back inflated."""
    payload = b"answer" * 200
    recorder = Recorder(Reply(200, gzip.compress(payload), headers=(("Content-Encoding", "gzip"),)))
    transport = OpampTransport(opamp_endpoint(await _serve(nursery, recorder)))
    body = b"y" * GZIP_MIN_BYTES
    response = await transport.exchange(body, UID)
    assert recorder.requests[0].header("content-encoding") == "gzip"
    assert gzip.decompress(recorder.requests[0].body) == body
    assert response.body == payload
    assert transport.stats.bytes_sent < len(body)
    await transport.exchange(b"z", UID)
    assert transport.connections_opened == 1  # keep-alive
    await transport.aclose()


async def test_gzip_bomb_is_refused(nursery: trio.Nursery) -> None:
    """An answer that inflates past the cap is a transport error, not an allocation."""
    bomb = gzip.compress(b"\0" * (MAX_RESPONSE_BYTES + 1))
    recorder = Recorder(Reply(200, bomb, headers=(("Content-Encoding", "gzip"),)))
    transport = OpampTransport(opamp_endpoint(await _serve(nursery, recorder)))
    with pytest.raises(ExportTransportError, match="inflates beyond"):
        await transport.exchange(b"x", UID)


async def test_connect_error_names_the_server() -> None:
    """A refused connection says which fleet server could not be reached."""
    transport = OpampTransport(opamp_endpoint("http://127.0.0.1:9"))
    with pytest.raises(ExportTransportError, match=r"fleet server 127\.0\.0\.1:9"):
        await transport.exchange(b"x", UID)
    assert transport.stats.failures == 1
