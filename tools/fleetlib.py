"""A small OpAMP fleet server (trio + h11 via ``edge_agent.httpserver``), for operators and tests.

``tools/fleet_server.py`` is its command line. Two listeners:

* the **OpAMP endpoint** (``POST /v1/opamp``, plain HTTP transport of the
  spec, gzip bodies both ways), optionally behind mutual TLS: agents must
  present a client certificate signed by ``--ca``;
* the **operator API** on loopback (plain HTTP, JSON): ``GET /api/agents``,
  ``POST /api/push`` (a signed config to one agent or a label group),
  ``POST /api/offer-certificate`` (the server issues a key and certificate
  and offers them). CSRs that agents send are signed with the CA.

The protocol logic lives in :mod:`tools.fleetstate` (sans-IO); this module
only moves bytes. ``throttle`` makes the OpAMP endpoint answer 429/503 with
a ``Retry-After`` (to exercise the agent's backoff).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from edge_agent.fleet import messages as m
from edge_agent.fleet.signing import CONFIG_NAME, SIGNATURE_NAME
from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits
from tools.fleetstate import FleetState

TOML = "application/toml"


class CaSigner:
    """Signs device CSRs and issues client certificates with a CA (the dev PKI's, or any)."""

    def __init__(self, ca_cert_pem: bytes, ca_key_pem: bytes, *, days: float = 90) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        self.ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
        self.ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
        self.ca_pem = ca_cert_pem
        self.days = days
        self.issued = 0

    @classmethod
    def from_files(cls, cert: Path, key: Path, **kwargs: Any) -> CaSigner:
        return cls(cert.read_bytes(), key.read_bytes(), **kwargs)

    def _certificate(self, subject: Any, public_key: Any) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID

        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=self.days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        self.issued += 1
        return bytes(cert.public_bytes(serialization.Encoding.PEM))

    def sign_csr(self, csr_pem: bytes, expected_cn: str) -> tuple[bytes, bytes]:
        """(certificate, CA certificate) for a CSR whose CN is ``expected_cn``; ValueError otherwise."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise ValueError("the request's signature does not verify")
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(names[0].value) if names else ""
        if cn != expected_cn:
            raise ValueError(f"its common name {cn!r} is not the sender's instance_uid {expected_cn!r}")
        return self._certificate(csr.subject, csr.public_key()), self.ca_pem

    def issue(self, cn: str) -> tuple[bytes, bytes, bytes]:
        """A new key and client certificate made by the server: (cert, key, CA cert) PEMs."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return self._certificate(subject, key.public_key()), key_pem, self.ca_pem


def server_ssl_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """TLS for the OpAMP listener; with ``client_ca`` every agent must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.load_verify_locations(str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass
class Throttle:
    status: int = 503
    retry_after: str | None = "1"


class FleetServer:
    def __init__(
        self,
        state: FleetState | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca: CaSigner | None = None,
    ) -> None:
        self.state = state or FleetState()
        self.ssl_context = ssl_context
        self.ca = ca
        if ca is not None:
            self.state.csr_signer = ca.sign_csr
        self.throttle: Throttle | None = None
        self.address: tuple[str, int] | None = None
        self.admin_address: tuple[str, int] | None = None
        self.requests = 0
        self.bytes_in = 0  # HTTP bytes received on the OpAMP endpoint (request heads + bodies as sent)
        self.bytes_out = 0  # HTTP bytes answered (response heads + bodies)
        self.instance_uid_headers: list[str | None] = []
        self.handshake_failures = 0
        self.client_cns: list[str] = []  # common name of each verified client certificate, per connection
        self._changed = trio.Event()

    @property
    def endpoint(self) -> str:
        assert self.address is not None, "start the server first"
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.address[0]}:{self.address[1]}{m.DEFAULT_PATH}"

    # -- OpAMP endpoint ------------------------------------------------------

    async def handle(self, request: Request) -> Reply:
        if request.path != m.DEFAULT_PATH or request.method != "POST":
            return Reply.text(404, f"POST OpAMP messages to {m.DEFAULT_PATH}\n")
        if (request.header("content-type") or "").split(";")[0].strip() != m.CONTENT_TYPE:
            return Reply.text(415, f"Content-Type must be {m.CONTENT_TYPE} (plain HTTP transport)\n")
        self.requests += 1
        self.bytes_in += _head_bytes(f"{request.method} {request.target} HTTP/1.1", request.headers) + len(
            request.body
        )
        self.instance_uid_headers.append(request.header(m.INSTANCE_UID_HEADER.lower()))
        if self.throttle is not None:
            extra = (("Retry-After", self.throttle.retry_after),) if self.throttle.retry_after else ()
            return Reply.text(self.throttle.status, "throttled\n", headers=extra)
        body = request.body
        if (request.header("content-encoding") or "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                return Reply.text(400, f"bad gzip body: {exc}\n")
        answer = self.state.handle(body)
        self._changed.set()
        self._changed = trio.Event()
        headers: tuple[tuple[str, str], ...] = ()
        if "gzip" in (request.header("accept-encoding") or "") and len(answer) >= 512:
            answer, headers = gzip.compress(answer), (("Content-Encoding", "gzip"),)
        reply_head = [
            (b"Content-Type", m.CONTENT_TYPE.encode()),
            (b"Content-Length", str(len(answer)).encode()),
        ]
        reply_head += [(k.encode(), v.encode()) for k, v in headers]
        self.bytes_out += _head_bytes("HTTP/1.1 200 OK", reply_head) + len(answer)
        return Reply(200, answer, content_type=m.CONTENT_TYPE, headers=headers)

    async def wait_until(self, predicate: Any) -> None:
        """Wait (use under fail_after) until ``predicate(self.state)`` holds after some message."""
        while not predicate(self.state):
            await self._changed.wait()

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        server = HttpServer(self.handle, ServerLimits(max_body_bytes=4 << 20), name="opamp")
        listeners = await trio.open_tcp_listeners(port, host=host)
        sockname = listeners[0].socket.getsockname()
        self.address = (sockname[0], sockname[1])
        task_status.started()
        if self.ssl_context is None:
            await trio.serve_listeners(server.serve_stream, listeners)
            return
        context = self.ssl_context

        async def serve_tls(stream: trio.abc.Stream) -> None:
            tls = trio.SSLStream(stream, context, server_side=True)
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError:
                self.handshake_failures += 1
                return
            self.client_cns.append(peer_common_name(tls))
            try:
                await server.serve_stream(tls)
            except trio.BrokenResourceError:
                pass  # a client certificate refused after the handshake (TLS 1.3)

        await trio.serve_listeners(serve_tls, listeners)

    # -- operator API ------------------------------------------------------

    async def handle_admin(self, request: Request) -> Reply:
        try:
            if request.method == "GET" and request.path == "/api/agents":
                return _json(200, [a.summary() for a in self.state.agents.values()])
            if request.method == "GET" and request.path == "/api/stats":
                return _json(
                    200, {"requests": self.requests, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out}
                )
            if request.method == "POST" and request.path == "/api/push":
                return _json(200, self.push(json.loads(request.body)))
            if request.method == "POST" and request.path == "/api/offer-certificate":
                return _json(200, self.offer_certificate(json.loads(request.body)))
        except (ValueError, KeyError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": "try GET /api/agents, POST /api/push, POST /api/offer-certificate"})

    def push(self, doc: dict[str, Any]) -> dict[str, Any]:
        agents = self.state.select(uid=doc.get("uid"), labels=doc.get("labels"))
        if not agents:
            raise ValueError("no agent matches (GET /api/agents lists them)")
        files = {
            CONFIG_NAME: (doc["files"][CONFIG_NAME].encode(), TOML),
            SIGNATURE_NAME: (doc["files"][SIGNATURE_NAME].encode(), TOML),
        }
        desired = self.state.push(agents, files)
        return {"config_hash": desired.config_hash.hex(), "agents": [a.uid_text for a in agents]}

    def offer_certificate(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self.ca is None:
            raise ValueError("start the server with --ca and --ca-key to issue certificates")
        offered = []
        for agent in self.state.select(uid=doc.get("uid"), labels=doc.get("labels")):
            cert, key, ca_pem = self.ca.issue(agent.uid_text)
            offered.append(self.state.offer_certificate(agent.uid, cert, key, ca_pem).offer_hash.hex())
        return {"offers": offered}

    async def serve_admin(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        server = HttpServer(self.handle_admin, name="fleet-admin")
        async with trio.open_nursery() as nursery:
            self.admin_address = await nursery.start(server.serve_tcp, host, port)
            task_status.started()


def peer_common_name(tls: trio.SSLStream[Any]) -> str:
    """The CN of the client certificate a TLS server stream verified ("" if none)."""
    cert = tls.getpeercert()
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _head_bytes(start_line: str, headers: Any) -> int:
    """Size of an HTTP/1.1 head on the wire: start line, ``name: value`` lines, the blank line."""
    return len(start_line) + 2 + sum(len(k) + len(v) + 4 for k, v in headers) + 2


def _json(status: int, value: Any) -> Reply:
    return Reply(status, json.dumps(value, indent=2, default=str).encode(), content_type="application/json")
