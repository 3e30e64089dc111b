"""Moving OpAMP bytes over HTTP: one POST per ``AgentToServer``, the ``ServerToAgent`` back.

The thin trio shell of the client. Connections come from the exporter's
:class:`~edge_agent.export.pool.ConnectionPool`: keep-alive, TCP connect and
TLS handshake deadlines, precise errors, and for ``https://`` endpoints the
same mTLS stack as the exporter (``edge_agent.tls``) with live
:class:`~edge_agent.tls.store.TlsCredentials`: after a certificate rotation
the pool retires connections opened with the old credentials. Bodies of
``GZIP_MIN_BYTES`` and more are gzipped (a heartbeat of ~30 bytes would only
grow); gzipped answers are inflated with a size cap. Errors leave as
:class:`~edge_agent.errors.ExportTransportError`; callers own the deadline
(``trio.fail_after``).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

from edge_agent.errors import ExportTransportError
from edge_agent.export.http import Endpoint, Response
from edge_agent.export.pool import ConnectionPool, Connector, open_tcp
from edge_agent.fleet import messages as m

__all__ = [
    "GZIP_MIN_BYTES",
    "MAX_RESPONSE_BYTES",
    "Connector",
    "OpampTransport",
    "opamp_endpoint",
    "open_tcp",
]

GZIP_MIN_BYTES = 512
MAX_RESPONSE_BYTES = 4 << 20


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


class OpampTransport:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        connect: Connector = open_tcp,
        compression: str = "gzip",
        headers: dict[str, str] | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.endpoint = endpoint
        self.compression = compression
        self.headers = dict(headers or {})
        self.stats = TransportStats()
        # credentials are set by the fleet client once loaded (https:// only)
        self.pool = ConnectionPool(
            credentials=None,
            connect=connect,
            connect_timeout=timeout,
            handshake_timeout=timeout,
            max_idle_per_endpoint=1,
        )

    def _request_headers(self, instance_uid: bytes, encoding: str) -> list[tuple[str, str]]:
        headers = [
            ("Content-Type", m.CONTENT_TYPE),
            (m.INSTANCE_UID_HEADER, m.uid_text(instance_uid)),
            ("Accept-Encoding", "gzip"),  # Host, User-Agent and Content-Length come from HttpConnection
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
            connection = await self.pool.checkout(self.endpoint)
        except ExportTransportError as exc:
            self.stats.failures += 1
            message = str(exc).replace("is the collector running", "is the fleet server running")
            raise ExportTransportError(f"fleet server {message}", kind=exc.kind) from exc
        try:
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
            await connection.aclose()
            raise
        await self.pool.checkin(self.endpoint, connection)
        return inflated

    @property
    def connections_opened(self) -> int:
        return self.pool.stats.opened

    async def aclose(self) -> None:
        await self.pool.aclose()


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
