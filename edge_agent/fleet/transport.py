"""Moving OpAMP bytes over HTTP: one POST per ``AgentToServer``, the ``ServerToAgent`` back.

The thin trio shell of the client. It owns one keep-alive connection at a
time, opened through a connection source: plain TCP here, or the exporter's
TLS stack for ``https://`` endpoints (``edge_agent.tls``), so the OpAMP
client and the exporter share one mTLS implementation and one set of client
credentials. Bodies larger than ``GZIP_MIN_BYTES`` are gzipped (a heartbeat
of ~30 bytes would only grow); gzipped answers are inflated with a size cap.
Errors leave as :class:`~edge_agent.errors.ExportTransportError`; callers
own the deadline (``trio.fail_after``).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from edge_agent._version import __version__
from edge_agent.errors import ExportTransportError
from edge_agent.export.http import Endpoint, HttpConnection, Response
from edge_agent.fleet import messages as m

GZIP_MIN_BYTES = 512
MAX_RESPONSE_BYTES = 4 << 20
Connector = Callable[[Endpoint], Awaitable[trio.abc.Stream]]


async def open_tcp(endpoint: Endpoint) -> trio.abc.Stream:
    return await trio.open_tcp_stream(endpoint.host, endpoint.port)


def opamp_endpoint(url: str) -> Endpoint:
    """The endpoint of ``fleet.endpoint``; an empty path means the spec's default ``/v1/opamp``."""
    endpoint = Endpoint.parse(url)
    if not endpoint.base_path:
        endpoint = Endpoint(endpoint.scheme, endpoint.host, endpoint.port, m.DEFAULT_PATH)
    return endpoint


@dataclass
class TransportStats:
    requests: int = 0
    failures: int = 0
    bytes_sent: int = 0  # request bodies as sent (after gzip)
    bytes_received: int = 0  # response bodies as received
    connections_opened: int = 0


class OpampTransport:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        connect: Connector = open_tcp,
        compression: str = "gzip",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.compression = compression
        self.headers = dict(headers or {})
        self.stats = TransportStats()
        self._connect = connect
        self._connection: HttpConnection | None = None

    def _request_headers(self, instance_uid: bytes, encoding: str) -> list[tuple[str, str]]:
        headers = [
            ("Content-Type", m.CONTENT_TYPE),
            (m.INSTANCE_UID_HEADER, m.uid_text(instance_uid)),
            ("Accept-Encoding", "gzip"),
            ("User-Agent", f"edge-agent/{__version__}"),
            *self.headers.items(),
        ]
        if encoding != "identity":
            headers.append(("Content-Encoding", encoding))
        return headers

    async def exchange(self, body: bytes, instance_uid: bytes) -> Response:
        """POST one AgentToServer; the response body comes back inflated."""
        encoding = "identity"
        if self.compression == "gzip" and len(body) >= GZIP_MIN_BYTES:
            body, encoding = gzip.compress(body, 6), "gzip"
        self.stats.requests += 1
        try:
            connection = await self._checkout()
            response = await connection.request(
                "POST",
                self.endpoint.base_path,
                host=self.endpoint.authority,
                headers=self._request_headers(instance_uid, encoding),
                body=body,
            )
            self.stats.bytes_sent += len(body)
            self.stats.bytes_received += len(response.body)
            inflated = _inflated(response)
        except BaseException:
            self.stats.failures += 1
            await self.aclose()
            raise
        if not connection.is_reusable():
            await self.aclose()
        return inflated

    async def _checkout(self) -> HttpConnection:
        if self._connection is not None and self._connection.is_reusable():
            return self._connection
        await self.aclose()
        try:
            stream = await self._connect(self.endpoint)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ExportTransportError(
                f"cannot connect to the fleet server {self.endpoint.authority}: {reason}"
            ) from exc
        self.stats.connections_opened += 1
        self._connection = HttpConnection(stream)
        return self._connection

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.aclose()


def _inflated(response: Response) -> Response:
    if (response.header("content-encoding") or "").lower() != "gzip":
        return response
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(response.body, MAX_RESPONSE_BYTES)
    except zlib.error as exc:
        raise ExportTransportError(f"the fleet server sent a corrupt gzip body: {exc}") from None
    if inflater.unconsumed_tail:
        raise ExportTransportError(f"the fleet server's answer inflates beyond {MAX_RESPONSE_BYTES} bytes")
    return Response(response.status, response.headers, body)
