"""HttpServer: the unix socket listener (TCP behaviour is exercised by the sink and receiver tests)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import trio

from edge_agent import HttpServer, Reply, Request


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
