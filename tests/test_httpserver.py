"""The bounded HTTP server: limits, timeouts and keep-alive, over real loopback sockets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import trio
import trio.testing

from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits


async def echo(request: Request) -> Reply:
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    return Reply.text(200, f"{request.method} {request.path} {len(request.body)}")


async def _serve(nursery: trio.Nursery, limits: ServerLimits) -> tuple[str, int]:
    server = HttpServer(echo, limits)
    address: tuple[str, int] = await nursery.start(server.serve_tcp, "127.0.0.1", 0)
    return address


async def _exchange(address: tuple[str, int], raw: bytes, *, read_until_close: bool = True) -> bytes:
    stream = await trio.open_tcp_stream(*address)
    async with stream:
        await stream.send_all(raw)
        chunks = []
        while True:
            data = await stream.receive_some(65536)
            if not data:
                break
            chunks.append(data)
            if not read_until_close:
                break
    return b"".join(chunks)


async def test_keep_alive_serves_two_requests() -> None:
    """Two pipelined requests on one connection both get answers."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits())
        raw = (
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        reply = await _exchange(address, raw)
        nursery.cancel_scope.cancel()
    assert reply.count(b"HTTP/1.1 200") == 2
    assert b"POST /a 3" in reply
    assert b"GET /b 0" in reply


async def test_body_over_limit_is_413_before_reading_it() -> None:
    """A declared Content-Length over the limit is refused with 413 without reading the body."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(max_body_bytes=10))
        reply = await _exchange(address, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"exceeds the limit of 10" in reply


async def test_chunked_body_over_limit_is_413() -> None:
    """A chunked body that grows past the limit is cut off with 413."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(max_body_bytes=10))
        raw = (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n"
            + b"x" * 20
            + b"\r\n0\r\n\r\n"
        )
        reply = await _exchange(address, raw)
        nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 413")


async def test_oversized_headers_rejected() -> None:
    """Headers larger than max_header_bytes get a 431 (h11's hint), not unbounded buffering."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(max_header_bytes=1024))
        reply = await _exchange(address, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 431")


async def test_slowloris_headers_time_out(autojump_clock: trio.testing.MockClock) -> None:
    """A client that never finishes its headers gets 408 after header_timeout and is disconnected."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(header_timeout=5))
        stream = await trio.open_tcp_stream(*address)
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        start = trio.current_time()
        reply = await stream.receive_some(65536)
        assert trio.current_time() - start == pytest.approx(5, abs=0.01)
        assert reply.startswith(b"HTTP/1.1 408")
        assert await stream.receive_some(100) == b""
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_slow_body_times_out(autojump_clock: trio.testing.MockClock) -> None:
    """A body that trickles in slower than body_timeout gets 408."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(body_timeout=3))
        stream = await trio.open_tcp_stream(*address)
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        reply = await stream.receive_some(65536)
        assert reply.startswith(b"HTTP/1.1 408")
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_connection_limit_answers_503(autojump_clock: trio.testing.MockClock) -> None:
    """Connections beyond max_connections get 503 with Retry-After and are closed."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(max_connections=2, header_timeout=60))
        held = [await trio.open_tcp_stream(*address) for _ in range(2)]
        await trio.sleep(0.1)
        reply = await _exchange(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 503")
        assert b"Retry-After: 1" in reply
        for s in held:
            await s.aclose()
        nursery.cancel_scope.cancel()


async def _huge(request: Request) -> Reply:
    return Reply(200, b"x" * (64 << 20))


async def test_client_that_never_reads_is_cut_off_after_send_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A client that asks for a big reply and never reads it loses the connection after send_timeout."""
    async with trio.open_nursery() as nursery:
        server = HttpServer(_huge, ServerLimits(max_connections=1, send_timeout=5))
        address = await nursery.start(server.serve_tcp, "127.0.0.1", 0)
        stuck = await trio.open_tcp_stream(*address)
        await stuck.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        start = trio.current_time()
        while server.statistics().active_connections:  # the only slot is held until the send times out
            await trio.sleep(0.5)
        assert 5 <= trio.current_time() - start < 7
        await stuck.aclose()
        nursery.cancel_scope.cancel()


async def test_connection_flood_is_closed_without_answers_past_twice_the_limit() -> None:
    """Past max_connections busy and as many refusals pending, further connections are just closed."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(max_connections=1, header_timeout=60))
        held = await trio.open_tcp_stream(*address)
        await trio.sleep(0.05)
        refused = await trio.open_tcp_stream(*address)  # gets a 503, then lingers (we send nothing)
        assert (await refused.receive_some(65536)).startswith(b"HTTP/1.1 503")
        dropped = await trio.open_tcp_stream(*address)
        with trio.fail_after(2):
            assert await dropped.receive_some(65536) == b""
        for stream in (held, refused, dropped):
            await stream.aclose()
        nursery.cancel_scope.cancel()


def test_request_repr_hides_headers_and_body() -> None:
    """A Request in a log line or traceback never shows its Authorization header or body."""
    request = Request("POST", "/v1/logs", ((b"authorization", b"Bearer s3cret"),), b"payload", "1.2.3.4:5")
    assert "s3cret" not in repr(request) and "payload" not in repr(request)


async def test_handler_exception_is_500_and_server_survives() -> None:
    """A handler bug answers 500; the next request still works."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits())
        first = await _exchange(address, b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = await _exchange(address, b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        nursery.cancel_scope.cancel()
    assert first.startswith(b"HTTP/1.1 500")
    assert second.startswith(b"HTTP/1.1 200")


async def test_garbage_request_is_400() -> None:
    """Bytes that are not HTTP get a 400."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits())
        reply = await _exchange(address, b"\x16\x03\x01\x00\xa5 not http\r\n\r\n")
        nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 400")


async def test_client_streaming_oversized_body_reads_the_413() -> None:
    """A client that keeps sending a big body still receives the 413 (no TCP reset)."""
    async with trio.open_nursery() as nursery:
        address = await _serve(nursery, ServerLimits(max_body_bytes=1000))
        stream = await trio.open_tcp_stream(*address)
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        reply = b""
        try:
            for _ in range(8):
                await stream.send_all(b"10000\r\n" + b"z" * 0x10000 + b"\r\n")
        except trio.BrokenResourceError:
            pass
        reply = await stream.receive_some(65536)
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 413")


# -- unix socket listener ------------------------------------------------------


async def _hello(request: Request) -> Reply:
    return Reply.text(200, f"hello {request.method} {request.path}\n")


async def _get_over_unix(path: str) -> bytes:
    stream = await trio.open_unix_socket(path)
    async with stream:
        await stream.send_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := await stream.receive_some(4096):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_unix_socket_serves_requests_with_mode_and_cleans_up(tmp_path: Path) -> None:
    """serve_unix answers requests, sets the socket file mode, replaces a stale socket and removes it on exit."""
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # a socket file left behind by a killed process
    stale.close()
    server = HttpServer(_hello)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: server.serve_unix(path, mode=0o600, task_status=task_status)
        )
        assert bound == path
        assert (os.stat(path).st_mode & 0o777) == 0o600
        reply = await _get_over_unix(path)
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello GET /x\n")
        nursery.cancel_scope.cancel()
    assert os.listdir(tmp_path) == []


async def test_unix_socket_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    """A regular file at the socket path is an error and is left alone."""
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    with pytest.raises(FileExistsError, match="not a socket"):
        await HttpServer(_hello).serve_unix(str(path))
    assert path.read_text() == "keep me"


async def test_refusals_are_reported_with_their_reason() -> None:
    """Every server-level refusal calls on_refusal with a reason the owner can count."""
    reasons: list[str] = []
    async with trio.open_nursery() as nursery:
        server = HttpServer(
            echo, ServerLimits(max_header_bytes=1024, max_body_bytes=10), on_refusal=reasons.append
        )
        address = await nursery.start(server.serve_tcp, "127.0.0.1", 0)
        await _exchange(address, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        await _exchange(address, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        await _exchange(address, b"\x16\x03\x01 not http\r\n\r\n")
        nursery.cancel_scope.cancel()
    assert reasons == ["headers_too_large", "too_large", "malformed"]
