"""The fleet client on the exporter's mTLS stack, and what certificate rotation needs from it.

One set of client credentials serves both connections by default: the
fleet uses ``[fleet.tls]`` when it names its own files, else
``[exporter.tls]``. The fleet keeps its own
:class:`~edge_agent.tls.store.TlsCredentials` (the exporter's is replaced
whenever a reload replaces the exporter), loaded from the same files.

For rotation (:mod:`.rotation`) this module supplies:

* :meth:`FleetTls.probe`: live tests of candidate files, with real
  connections: one OpAMP exchange with the fleet server over TLS with the
  candidate certificate (TLS 1.3 servers check the client certificate after
  the handshake, so a request must go through), and, when the exporter
  shares the certificate and uses TLS, a TLS connection plus an empty OTLP
  request to its primary upstream;
* :meth:`FleetTls.install`: the swap into the running fleet client and, when
  shared, the running exporter: both switch to the new material for every
  new connection (their pools retire connections of the old generation),
  while requests in flight finish on the old ones.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import trio

from edge_agent.config.schema import AgentConfig
from edge_agent.errors import ExportTransportError
from edge_agent.export.http import Endpoint, HttpConnection
from edge_agent.fleet import messages as m
from edge_agent.fleet.rotation import CertPaths
from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.connect import probe
from edge_agent.tls.files import resolve_path
from edge_agent.tls.material import TlsMaterial, load_client_material
from edge_agent.tls.store import TlsCredentials

# HTTP answers that mean the server refused our certificate (nginx answers 400 to a bad one)
_CERT_REFUSALS = {400, 401, 403, 495, 496}


def fleet_tls_config(config: AgentConfig) -> tuple[TlsClientConfig, str]:
    """The TLS settings of the OpAMP connection and their config prefix."""
    if config.fleet.tls.is_configured():
        return config.fleet.tls, "fleet.tls"
    return config.exporter.tls, "exporter.tls"


class FleetTls:
    def __init__(self, config: AgentConfig, environ: Mapping[str, str]) -> None:
        self.tls, self.prefix = fleet_tls_config(config)
        self.exporter_tls = config.exporter.tls
        self.environ = environ
        self.credentials: TlsCredentials | None = None

    def load(self) -> TlsCredentials:
        """Load the credentials (blocking; ConfigError naming the key and file on a problem)."""
        material = load_client_material(self.tls, self.environ, prefix=self.prefix)
        self.credentials = TlsCredentials(material, environ=self.environ, prefix=self.prefix)
        return self.credentials

    def cert_paths(self) -> CertPaths | None:
        """The live client certificate and key files rotation replaces, if there are any."""
        if not (self.tls.cert_file and self.tls.key_file):
            return None
        cert = resolve_path(self.tls.cert_file, self.environ, key=f"{self.prefix}.cert_file")
        key = resolve_path(self.tls.key_file, self.environ, key=f"{self.prefix}.key_file")
        return CertPaths(cert, key)

    def shared_with_exporter(self) -> bool:
        return self.prefix == "exporter.tls" or (
            self.exporter_tls.cert_file == self.tls.cert_file
            and self.exporter_tls.key_file == self.tls.key_file
        )

    def current_cert(self) -> bytes | None:
        paths = self.cert_paths()
        try:
            return paths.cert.read_bytes() if paths is not None else None
        except FileNotFoundError:
            return None

    def _material(self, tls: TlsClientConfig, candidate: CertPaths, prefix: str) -> TlsMaterial:
        config = dataclasses.replace(tls, cert_file=str(candidate.cert), key_file=str(candidate.key))
        return load_client_material(config, self.environ, prefix=prefix)

    async def probe(self, candidate: CertPaths, endpoint: Endpoint, hello: bytes, agent: Any) -> None:
        """Test ``candidate`` with live connections; raise ExportTransportError/ConfigError if refused."""
        material = await trio.to_thread.run_sync(self._material, self.tls, candidate, self.prefix)
        if self.credentials is not None:
            self.credentials.check_candidate(material)
        exchange = functools.partial(_post, endpoint, endpoint.base_path, hello, m.CONTENT_TYPE, opamp=True)
        await _probe(material, endpoint, exchange, "the fleet server")
        upstream = Endpoint.parse(agent.config.exporter.endpoint)
        if self.shared_with_exporter() and upstream.scheme == "https":
            theirs = await trio.to_thread.run_sync(
                self._material, self.exporter_tls, candidate, "exporter.tls"
            )
            exchange = functools.partial(
                _post, upstream, upstream.base_path + "/v1/metrics", b"", m.CONTENT_TYPE
            )
            await _probe(theirs, upstream, exchange, "the exporter's upstream")

    async def install(self, paths: CertPaths, agent: Any) -> None:
        """Swap the rotated files into the running fleet client and (when shared) the exporter."""
        load = functools.partial(load_client_material, self.tls, self.environ, prefix=self.prefix)
        material = await trio.to_thread.run_sync(load)
        if self.credentials is not None:
            self.credentials.swap(material)
        exporter_credentials = getattr(agent.exporter, "credentials", None)
        if self.shared_with_exporter() and exporter_credentials is not None:
            theirs = await trio.to_thread.run_sync(load_client_material, self.exporter_tls, self.environ)
            exporter_credentials.swap(theirs)


async def _probe(material: TlsMaterial, endpoint: Endpoint, exchange: Any, what: str) -> None:
    try:
        with trio.fail_after(30):
            await probe(material, endpoint.host, endpoint.port, exchange)
    except trio.TooSlowError:
        raise ExportTransportError(f"{what} did not answer a test connection within 30 s") from None
    except ExportTransportError as exc:
        raise ExportTransportError(f"{what} refused the new certificate: {exc}", kind=exc.kind) from exc


async def _post(
    endpoint: Endpoint,
    path: str,
    body: bytes,
    content_type: str,
    stream: trio.abc.Stream,
    *,
    opamp: bool = False,
) -> None:
    """One request over a probe connection; the answer must show the certificate was accepted."""
    connection = HttpConnection(stream, target=endpoint.authority)
    response = await connection.request(
        "POST", path, host=endpoint.authority, headers=[("Content-Type", content_type)], body=body
    )
    refused = response.status in _CERT_REFUSALS or (opamp and response.status != 200)
    if refused:
        detail = response.body[:200].decode("utf-8", "replace").strip()
        raise ExportTransportError(f"HTTP {response.status} {detail}".strip(), kind="tls_refused")
