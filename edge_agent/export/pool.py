"""Keep-alive connections to the upstream endpoints (the trio shell around h11 + TLS).

A connection is checked out for exactly one request and checked back in if
h11 says it can carry another one. Idle connections are handed out most
recently used first (the least likely to have been closed by the server),
and retired when they have idled longer than ``idle_timeout``, when the
server has closed them meanwhile (a zero-timeout poll of the socket, so no
request body is wasted on a dead connection), or when they were opened with
TLS credentials that have since been rotated, so rotated certificates take
effect on the next request, not only after the server hangs up.

Opening a connection is TCP connect (``connect_timeout``), then for
``https://`` the TLS handshake (``handshake_timeout``); both failures are
:class:`~edge_agent.errors.ExportTransportError` with a precise message.
"""

from __future__ import annotations

import select
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from edge_agent.errors import ExportTransportError
from edge_agent.export.http import Endpoint, HttpConnection
from edge_agent.tls.connect import start_tls
from edge_agent.tls.errors import transport_error
from edge_agent.tls.store import TlsCredentials

Connector = Callable[[Endpoint], Awaitable[trio.abc.Stream]]


async def open_tcp(endpoint: Endpoint) -> trio.abc.Stream:
    return await trio.open_tcp_stream(endpoint.host, endpoint.port)


@dataclass
class PoolStats:
    opened: int = 0
    reused: int = 0
    retired_idle: int = 0
    retired_rotated: int = 0
    open_failures: int = 0
    bytes_sent: int = 0  # on TCP connections, TLS records and handshakes included
    bytes_received: int = 0


class CountingStream(trio.abc.Stream):
    """A TCP stream that adds what passes through it to :class:`PoolStats` (bytes on the wire)."""

    def __init__(self, inner: trio.abc.Stream, stats: PoolStats) -> None:
        self.inner = inner
        self._stats = stats

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)
        self._stats.bytes_sent += len(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        self._stats.bytes_received += len(data)
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()

    def has_news(self) -> bool:
        """Did the peer send anything (bytes, a TLS close_notify, EOF) on this idle connection?

        Either way the connection cannot carry the next request: a server that
        closed an idle connection is caught here, before a request body is
        wasted on it. A zero-timeout poll, no read.
        """
        socket = getattr(self.inner, "socket", None)
        if socket is None:
            return False
        poller = select.poll()
        poller.register(socket.fileno(), select.POLLIN)
        return bool(poller.poll(0))


class ConnectionPool:
    def __init__(
        self,
        *,
        credentials: TlsCredentials | None,
        connect: Connector = open_tcp,
        connect_timeout: float = 10.0,
        handshake_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        max_idle_per_endpoint: int = 4,
    ) -> None:
        self.credentials = credentials
        self.stats = PoolStats()
        self._connect = connect
        self._connect_timeout = connect_timeout
        self._handshake_timeout = handshake_timeout
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle_per_endpoint
        self._idle: dict[Endpoint, list[HttpConnection]] = {}

    def _generation(self) -> int:
        return self.credentials.generation if self.credentials is not None else 0

    def _is_fresh(self, conn: HttpConnection, now: float) -> bool:
        if not conn.is_reusable() or now - conn.idle_since >= self._idle_timeout:
            return False
        return not (isinstance(conn.transport, CountingStream) and conn.transport.has_news())

    async def checkout(self, endpoint: Endpoint, *, fresh: bool = False) -> HttpConnection:
        """A connection for one request: an idle one (unless ``fresh``) or a new one."""
        idle = [] if fresh else self._idle.get(endpoint, [])
        now = trio.current_time()
        while idle:
            conn = idle.pop()
            if conn.generation != self._generation():
                self.stats.retired_rotated += 1
            elif self._is_fresh(conn, now):
                self.stats.reused += 1
                return conn
            else:
                self.stats.retired_idle += 1
            await conn.aclose()
        try:
            conn = await self._open(endpoint)
        except ExportTransportError:
            self.stats.open_failures += 1
            raise
        self.stats.opened += 1
        return conn

    async def _open(self, endpoint: Endpoint) -> HttpConnection:
        target = endpoint.authority
        try:
            with trio.fail_after(self._connect_timeout):
                transport = CountingStream(await self._connect(endpoint), self.stats)
        except trio.TooSlowError:
            raise ExportTransportError(
                f"{target}: no answer to the TCP connect within {self._connect_timeout:g}s "
                "(link down or firewalled?)",
                kind="timeout",
            ) from None
        except OSError as exc:
            raise transport_error(exc, target=target, action="connecting") from exc
        generation = self._generation()
        stream: trio.abc.Stream = transport
        if endpoint.scheme == "https":
            if self.credentials is None:
                raise ExportTransportError(f"{target}: https:// endpoint without TLS settings", kind="tls")
            try:
                with trio.fail_after(self._handshake_timeout):
                    stream = await start_tls(
                        stream, self.credentials.current, host=endpoint.host, target=target
                    )
            except trio.TooSlowError:
                raise ExportTransportError(
                    f"{target}: TLS handshake did not finish within {self._handshake_timeout:g}s",
                    kind="timeout",
                ) from None
        conn = HttpConnection(stream, target=target, generation=generation)
        conn.transport = transport
        return conn

    async def checkin(self, endpoint: Endpoint, conn: HttpConnection) -> None:
        """Keep ``conn`` for the next request if it can carry one, else close it."""
        idle = self._idle.setdefault(endpoint, [])
        if conn.is_reusable() and conn.generation == self._generation() and len(idle) < self._max_idle:
            conn.idle_since = trio.current_time()
            idle.append(conn)
        else:
            await conn.aclose()

    async def reap(self) -> None:
        """Close idle connections past ``idle_timeout`` or of rotated credentials."""
        now = trio.current_time()
        for idle in self._idle.values():
            keep = [c for c in idle if self._is_fresh(c, now) and c.generation == self._generation()]
            stale = [c for c in idle if c not in keep]
            idle[:] = keep
            for conn in stale:
                self.stats.retired_idle += 1
                await conn.aclose()

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                await idle.pop().aclose()
