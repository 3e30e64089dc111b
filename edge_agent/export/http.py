"""A minimal HTTP/1.1 client connection: h11 driven over a trio stream.

The loop is the one httpcore uses: send the request events, then call
``next_event()`` and read more bytes whenever h11 says ``NEED_DATA``. trio
and h11 errors are translated into
:class:`~edge_agent.errors.ExportTransportError` right where they happen.
A connection is reusable (keep-alive) only if both sides finished the
exchange cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio

from edge_agent._version import __version__
from edge_agent.errors import ConfigError, ExportTransportError
from edge_agent.tls.errors import transport_error

USER_AGENT = f"edge-agent/{__version__}".encode()
_READ_SIZE = 65536


@dataclass(frozen=True)
class Endpoint:
    """A parsed upstream URL."""

    scheme: str
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"invalid endpoint URL {url!r}", key="exporter.endpoint")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(f"invalid port in endpoint URL {url!r}", key="exporter.endpoint") from None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.authority}{self.base_path}{path}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None


class HttpConnection:
    """One keep-alive HTTP/1.1 connection.

    ``target`` (``host:port``) prefixes error messages; ``generation`` is the
    TLS credentials generation it was opened with (the pool retires older
    ones); ``requests_done`` > 0 means the connection is being reused, which
    the exporter needs to tell a stale keep-alive connection from a dead
    upstream.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        target: str = "upstream",
        generation: int = 0,
        max_response_bytes: int = 1 << 20,
    ) -> None:
        self._stream = stream
        self._h11 = h11.Connection(h11.CLIENT)
        self._max_response_bytes = max_response_bytes
        self._broken = False
        self.target = target
        self.generation = generation
        self.requests_done = 0
        self.response_started = False
        self._eof = False
        self.idle_since = 0.0
        self.transport: object = None  # the TCP-level stream, for the pool's liveness check

    def is_reusable(self) -> bool:
        return not self._broken and self._h11.our_state is h11.IDLE and self._h11.their_state is h11.IDLE

    async def request(
        self, method: str, target: str, *, host: str, headers: list[tuple[str, str]], body: bytes
    ) -> Response:
        if not self.is_reusable():
            raise ExportTransportError(f"{self.target}: connection is not reusable", kind="closed")
        self.response_started = False
        try:
            # one write for head, body and end: fewer syscalls and no small-packet stalls
            data = b"".join(
                self._h11.send(event) or b""
                for event in (
                    h11.Request(method=method, target=target, headers=request_headers(host, headers, body)),
                    h11.Data(data=body),
                    h11.EndOfMessage(),
                )
            )
            await self._send_bytes(data)
            response = await self._read_response()
        except BaseException:
            self._broken = True
            raise
        self.requests_done += 1
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        else:
            self._broken = True
        return response

    async def _send_bytes(self, data: bytes) -> None:
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise transport_error(exc, target=self.target, action="sending the request") from exc

    async def _read_response(self) -> Response:
        status = 0
        headers: tuple[tuple[bytes, bytes], ...] = ()
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Response):
                status, headers = event.status_code, tuple(event.headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._max_response_bytes:
                    raise ExportTransportError(
                        f"{self.target}: response body larger than {self._max_response_bytes} bytes",
                        kind="protocol",
                    )
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return Response(status, headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise ExportTransportError(
                    f"{self.target}: the server closed the connection without a complete response",
                    kind="closed",
                )
            # InformationalResponse (1xx) is skipped

    async def _next_event(self) -> h11.Event:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof:  # h11 reports an early close as a protocol error; it is a close
                    raise ExportTransportError(
                        f"{self.target}: the server closed the connection without a complete response",
                        kind="closed",
                    ) from exc
                raise ExportTransportError(
                    f"{self.target}: malformed HTTP response ({exc}); is this an OTLP/HTTP endpoint?",
                    kind="protocol",
                ) from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            try:
                data = await self._stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise transport_error(exc, target=self.target, action="reading the response") from exc
            if data:
                self.response_started = True
            else:
                self._eof = True
            self._h11.receive_data(bytes(data))

    async def aclose(self) -> None:
        self._broken = True
        with trio.move_on_after(1) as scope:
            scope.shield = True
            try:
                await self._stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


def request_headers(host: str, headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    return [("Host", host), ("User-Agent", USER_AGENT.decode()), ("Content-Length", str(len(body))), *headers]


def head_size(method: str, target: str, headers: list[tuple[str, str]]) -> int:
    """Bytes of the request line and headers on the wire (for the bandwidth cap)."""
    line = len(method) + len(target) + len(" HTTP/1.1\r\n") + 1
    return line + sum(len(k) + len(v) + 4 for k, v in headers) + 2
