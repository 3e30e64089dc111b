"""TLS test helpers: a run-time PKI and real TLS servers on loopback (no mocks)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from edge_agent.httpserver import HttpServer
from edge_agent.testing import OtlpSink
from tools.pkilib import DevPki

StreamHandler = Callable[[trio.abc.Stream], Awaitable[None]]


def make_pki(root: Path) -> DevPki:
    pki = DevPki.create(root)
    pki.add_client("device-1")
    return pki


def server_context(
    pki: DevPki,
    *,
    cert: Path | None = None,
    key: Path | None = None,
    require_client: bool = True,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert or pki.server_cert, key or pki.server_key)
    context.load_verify_locations(pki.ca_file)
    context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
    if max_version is not None:
        context.maximum_version = max_version
    return context


async def serve_tls(
    handler: StreamHandler,
    context: ssl.SSLContext,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept TLS on 127.0.0.1 (port reported to ``task_status``); each connection goes to ``handler``."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])

    async def wrap(stream: trio.abc.Stream) -> None:
        tls = trio.SSLStream(stream, context, server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError:
            return  # the client refused us, or we refused the client: nothing to serve
        await handler(tls)

    await trio.serve_listeners(wrap, listeners)


async def serve_tls_sink(
    sink: OtlpSink,
    context: ssl.SSLContext,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``sink`` behind TLS on 127.0.0.1; ``task_status`` gets the port."""
    server = HttpServer(sink.handle, sink.limits, name="tls-sink")

    async def handle(stream: trio.abc.Stream) -> None:
        try:
            await server.serve_stream(stream)
        except trio.BrokenResourceError:
            pass  # the TLS peer went away (e.g. a client-cert alert after the handshake)

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tls, handle, context)
        task_status.started(port)
