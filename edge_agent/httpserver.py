"""A small, bounded HTTP/1.1 server: h11 on trio, for the admin endpoint and receivers.

Every resource a client can make the server hold is bounded: header bytes,
body bytes, time to send the headers and the body (slowloris), time to read
our reply (a client that never reads), idle time between keep-alive
requests, and concurrent connections (connections over the limit get
``503`` and are closed; past twice the limit they are closed without an
answer, so a connection flood cannot pile up refusal tasks either). A handler receives a whole
:class:`Request` and returns a :class:`Reply`; handler exceptions become
``500`` with a one-line log, never a dead server.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import h11
import trio

log = logging.getLogger("edge_agent.http")


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    # kept out of repr: headers carry bearer tokens, bodies carry telemetry
    headers: tuple[tuple[bytes, bytes], ...] = field(repr=False)
    body: bytes = field(repr=False)
    peer: str = ""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key == wanted:  # h11 lower-cases header names
                return value.decode("latin-1")
        return None


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        return cls(status, text.encode(), headers=headers)


Handler = Callable[[Request], Awaitable[Reply]]
# Called with a short reason whenever the server itself refuses a client (see REFUSAL_REASONS),
# so the owner can count abuse: a receiver passes ``ctx.count``.
RefusalHook = Callable[[str], None]

# HTTP status of a server-level refusal -> the reason reported to the hook
REFUSAL_REASONS = {
    400: "malformed",
    408: "timeout",
    413: "too_large",
    431: "headers_too_large",
    503: "too_many_connections",
}


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1 << 20
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    send_timeout: float = 30.0
    max_connections: int = 32


@dataclass(frozen=True)
class ServerStatistics:
    active_connections: int
    pending_refusals: int


class _ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class HttpServer:
    handler: Handler
    limits: ServerLimits = field(default_factory=ServerLimits)
    name: str = "http"
    on_refusal: RefusalHook | None = None

    def __post_init__(self) -> None:
        self._active = 0
        self._refusing = 0

    def statistics(self) -> ServerStatistics:
        return ServerStatistics(self._active, self._refusing)

    def _refused(self, reason: str) -> None:
        if self.on_refusal is not None:
            self.on_refusal(reason)

    async def serve_tcp(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port``; ``task_status`` receives the bound address (port 0 resolved)."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        sockname = listeners[0].socket.getsockname()
        task_status.started((sockname[0], sockname[1]))
        await trio.serve_listeners(self.serve_stream, listeners)

    async def serve_unix(
        self,
        path: str,
        *,
        mode: int = 0o660,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on a unix stream socket at ``path`` (file ``mode``); removed again on exit.

        A stale socket file left by a killed process is replaced; any other
        kind of file at ``path`` is an error (``FileExistsError``), never
        deleted.
        """
        _remove_stale_socket(path)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.bind(path)
            os.chmod(path, mode)
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        try:
            task_status.started(path)
            await trio.serve_listeners(self.serve_stream, [trio.SocketListener(sock)])
        finally:
            sock.close()
            _remove_stale_socket(path)

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        if self._active >= self.limits.max_connections:
            self._refused("too_many_connections")
            if self._refusing >= self.limits.max_connections:
                await trio.aclose_forcefully(stream)  # a flood: no answer, no lingering
                return
            self._refusing += 1
            try:
                await _refuse(stream)
            finally:
                self._refusing -= 1
            return
        self._active += 1
        try:
            await _Connection(stream, self.handler, self.limits, self._refused).run()
        finally:
            self._active -= 1
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await stream.aclose()


async def _refuse(stream: trio.abc.Stream) -> None:
    conn = h11.Connection(h11.SERVER)
    body = b"too many connections\n"
    data = conn.send(
        h11.Response(
            status_code=503,
            headers=[("Content-Length", str(len(body))), ("Connection", "close"), ("Retry-After", "1")],
        )
    )
    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
    with trio.move_on_after(1):
        try:
            await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await linger_close(stream)


LINGER_SECONDS = 1.0
LINGER_MAX_BYTES = 1 << 20


async def linger_close(stream: trio.abc.Stream) -> None:
    """Half-close, drain what the client is still sending (bounded), then close.

    Closing a socket with unread data makes the kernel send a reset, and the
    client may never read the error response we just wrote.
    """
    with trio.move_on_after(LINGER_SECONDS):
        try:
            if isinstance(stream, trio.abc.HalfCloseableStream):
                await stream.send_eof()
            drained = 0
            while drained < LINGER_MAX_BYTES and (chunk := await stream.receive_some(65536)):
                drained += len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await stream.aclose()


class _Connection:
    def __init__(
        self, stream: trio.abc.Stream, handler: Handler, limits: ServerLimits, refused: RefusalHook
    ) -> None:
        self.stream = stream
        self.handler = handler
        self.limits = limits
        self.refused = refused
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)

    async def run(self) -> None:
        first = True
        while True:
            timeout = self.limits.header_timeout if first else self.limits.idle_timeout
            try:
                request = await self._read_request(timeout)
            except _ClientError as exc:
                self.refused(REFUSAL_REASONS.get(exc.status, "malformed"))
                await self._send_error(exc.status, str(exc))
                await linger_close(self.stream)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
            if request is None:
                return
            first = False
            reply = await self._handle(request)
            try:
                with trio.fail_after(self.limits.send_timeout):
                    await self._send_reply(reply)
            except (
                trio.BrokenResourceError,
                trio.ClosedResourceError,
                OSError,
                h11.LocalProtocolError,
                trio.TooSlowError,  # the client does not read its reply
            ) as exc:
                if isinstance(exc, trio.TooSlowError):
                    self.refused("send_timeout")
                return
            if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                return
            self.conn.start_next_cycle()

    async def _handle(self, request: Request) -> Reply:
        try:
            return await self.handler(request)
        except Exception as exc:  # a handler bug must not take the server down
            log.error("handler for %s %s failed: %r", request.method, request.path, exc)
            return Reply.text(500, "internal error\n")

    async def _read_request(self, first_byte_timeout: float) -> Request | None:
        with trio.move_on_after(first_byte_timeout) as scope:
            event = await self._next_event()
        if scope.cancelled_caught:
            if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
                return None  # idle keep-alive connection: close quietly
            raise _ClientError(408, "request headers not received in time")
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise _ClientError(400, "expected a request")
        # h11 bounds only *incomplete* events; a complete oversized head arriving in one read
        # would pass, so the head size is checked here too.
        head_size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
        if head_size > self.limits.max_header_bytes:
            raise _ClientError(431, f"request headers exceed {self.limits.max_header_bytes} bytes")
        length = _content_length(event.headers)
        if length is not None and length > self.limits.max_body_bytes:
            raise _ClientError(
                413, f"body of {length} bytes exceeds the limit of {self.limits.max_body_bytes}"
            )
        body = await self._read_body()
        peer = _peer_name(self.stream)
        return Request(
            event.method.decode(), event.target.decode("latin-1"), tuple(event.headers), body, peer
        )

    async def _read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(self.limits.body_timeout) as scope:
            while True:
                event = await self._next_event()
                if isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > self.limits.max_body_bytes:
                        raise _ClientError(
                            413, f"body exceeds the limit of {self.limits.max_body_bytes} bytes"
                        )
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return b"".join(chunks)
                elif isinstance(event, h11.ConnectionClosed):
                    raise trio.BrokenResourceError("client closed mid-body")
        assert scope.cancelled_caught
        raise _ClientError(408, "request body not received in time")

    async def _next_event(self) -> h11.Event:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _ClientError(exc.error_status_hint, f"malformed request: {exc}") from None
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = await self.stream.receive_some(65536)
            self.conn.receive_data(bytes(data))

    async def _send_reply(self, reply: Reply) -> None:
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            *reply.headers,
        ]
        reason = _REASONS.get(reply.status, b"")
        data = self.conn.send(h11.Response(status_code=reply.status, headers=headers, reason=reason)) or b""
        if reply.body:
            data += self.conn.send(h11.Data(data=reply.body)) or b""
        data += self.conn.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(data)

    async def _send_error(self, status: int, message: str) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        reply = Reply.text(status, message + "\n", headers=(("Connection", "close"),))
        with trio.move_on_after(self.limits.send_timeout):
            try:
                await self._send_reply(reply)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.LocalProtocolError):
                pass


def _remove_stale_socket(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket; refusing to replace it")
    os.unlink(path)


# The statuses this server sends; http.HTTPStatus would cost ~0.3 MiB of RSS for the rest.
_REASONS = {
    200: b"OK",
    202: b"Accepted",
    204: b"No Content",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    411: b"Length Required",
    413: b"Content Too Large",
    414: b"URI Too Long",
    415: b"Unsupported Media Type",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    503: b"Service Unavailable",
}


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _peer_name(stream: trio.abc.Stream) -> str:
    sock = getattr(stream, "socket", None)
    try:
        peer = sock.getpeername() if sock is not None else None
    except OSError:
        return ""
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
