"""Real TLS handshakes on loopback: verification, names, pins, versions, and their error messages."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio

from edge_agent.errors import ExportTransportError
from edge_agent.export.http import HttpConnection
from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.connect import probe
from edge_agent.tls.errors import transport_error
from edge_agent.tls.material import TlsMaterial, load_client_material
from tests.tlshelpers import make_pki, serve_tls, server_context
from tools import pkilib
from tools.pkilib import DevPki


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return make_pki(tmp_path / "pki")


def _material(pki: DevPki, *, client: bool = True, **kw: object) -> TlsMaterial:
    files = pki.client_paths("device-1")
    config = TlsClientConfig(
        ca_file=str(pki.ca_file),
        cert_file=str(files.cert) if client else "",
        key_file=str(files.key) if client else "",
        **kw,  # type: ignore[arg-type]
    )
    return load_client_material(config, {})


async def _answer_http(stream: trio.abc.Stream) -> None:
    try:
        await stream.receive_some()
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await stream.aclose()
    except trio.BrokenResourceError:
        pass


async def _probe(material: TlsMaterial, context: ssl.SSLContext, host: str = "127.0.0.1") -> str:
    """probe() against a fresh TLS server; its error is re-raised outside the nursery (no group)."""
    result: str | BaseException = ""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tls, _answer_http, context)
        try:
            with trio.fail_after(5):
                result = await probe(material, host, port)
        except ExportTransportError as exc:
            result = exc
        nursery.cancel_scope.cancel()
    if isinstance(result, BaseException):
        raise result
    return result


async def test_mutual_tls_handshake_prefers_tls13(pki: DevPki) -> None:
    """A complete client set against a server requiring client certs negotiates TLS 1.3."""
    assert await _probe(_material(pki), server_context(pki)) == "TLSv1.3"


async def test_tls12_server_is_accepted_by_default(pki: DevPki) -> None:
    """min_version 1.2 (default) still talks to a TLS 1.2-only server."""
    context = server_context(pki, max_version=ssl.TLSVersion.TLSv1_2)
    assert await _probe(_material(pki), context) == "TLSv1.2"


async def test_tls13_minimum_refuses_a_tls12_server(pki: DevPki) -> None:
    """With min_version 1.3 a TLS 1.2-only server fails, and the message points at min_version."""
    context = server_context(pki, max_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ExportTransportError, match=r"TLS (handshake|exchange).*min_version") as info:
        await _probe(_material(pki, min_version="1.3"), context)
    assert info.value.kind == "tls_protocol"


async def test_server_from_another_ca_is_untrusted(pki: DevPki, tmp_path: Path) -> None:
    """A server certificate not signed by ca_file fails as untrusted, pointing at ca_file."""
    other = DevPki.create(tmp_path / "other")
    context = server_context(pki, cert=other.server_cert, key=other.server_key)
    with pytest.raises(ExportTransportError, match=r"not signed by a trusted CA.*ca_file") as info:
        await _probe(_material(pki), context)
    assert info.value.kind == "tls_untrusted"


async def test_wrong_server_name_is_refused_unless_overridden(pki: DevPki) -> None:
    """A server cert for another name fails as a name mismatch; server_name_override fixes it."""
    cert, key = pki.write_server(pkilib.make_server(pki.ca, ("gw.example",)), "wrong")
    context = server_context(pki, cert=cert, key=key)
    with pytest.raises(
        ExportTransportError, match=r"not valid for '127\.0\.0\.1'.*server_name_override"
    ) as info:
        await _probe(_material(pki), context)
    assert info.value.kind == "tls_hostname"
    assert await _probe(_material(pki, server_name_override="gw.example"), context) == "TLSv1.3"


async def test_expired_server_certificate(pki: DevPki) -> None:
    """An expired server certificate is reported as expired, not as a generic failure."""
    cert, key = pki.write_server(
        pkilib.expired(pki.ca, "old", client=False, server_names=("127.0.0.1",)), "old"
    )
    with pytest.raises(ExportTransportError, match="has expired") as info:
        await _probe(_material(pki), server_context(pki, cert=cert, key=key))
    assert info.value.kind == "tls_expired"


async def test_insecure_skip_verify_accepts_anything(pki: DevPki, tmp_path: Path) -> None:
    """insecure_skip_verify connects to an untrusted, wrongly named server (for testing only)."""
    other = DevPki.create(tmp_path / "other", server_names=("elsewhere.example",))
    context = server_context(pki, cert=other.server_cert, key=other.server_key)
    assert await _probe(_material(pki, insecure_skip_verify=True), context) == "TLSv1.3"


async def test_spki_pin_match_and_mismatch(pki: DevPki) -> None:
    """A matching pin connects; a pin of another key refuses the server with kind tls_pin."""
    good = pkilib.spki_sha256(pki.server.cert)
    assert await _probe(_material(pki, pinned_spki_sha256=(good,)), server_context(pki)) == "TLSv1.3"
    wrong = pkilib.spki_sha256(pki.ca.cert)
    with pytest.raises(ExportTransportError, match="pinned_spki_sha256") as info:
        await _probe(_material(pki, pinned_spki_sha256=(wrong,)), server_context(pki))
    assert info.value.kind == "tls_pin"


async def test_plain_http_port_is_recognised(pki: DevPki) -> None:
    """Speaking TLS to a plain HTTP port says so instead of a cryptic OpenSSL reason."""

    async def plain(stream: trio.abc.Stream) -> None:
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, plain, 0)
        port = listeners[0].socket.getsockname()[1]
        with pytest.raises(ExportTransportError, match="does not speak TLS") as info:
            await probe(_material(pki), "127.0.0.1", port)
        nursery.cancel_scope.cancel()
    assert info.value.kind == "tls_protocol"


async def test_refused_port_is_named(pki: DevPki) -> None:
    """Connecting to a closed port yields kind refused with a hint."""
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ExportTransportError, match="connection refused") as info:
        await probe(_material(pki), "127.0.0.1", port)
    assert info.value.kind == "refused"


async def test_probe_exchange_reveals_a_refused_client_certificate(pki: DevPki) -> None:
    """Without a client cert the TLS 1.3 handshake passes but a request over it fails."""

    async def one_request(stream: trio.abc.Stream) -> None:
        conn = HttpConnection(stream, target="probe")
        await conn.request("POST", "/v1/metrics", host="localhost", headers=[], body=b"")

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tls, _answer_http, server_context(pki))
        assert await probe(_material(pki, client=False), "127.0.0.1", port) == "TLSv1.3"
        with pytest.raises(ExportTransportError):
            await probe(_material(pki, client=False), "127.0.0.1", port, one_request)
        assert await probe(_material(pki), "127.0.0.1", port, one_request) == "TLSv1.3"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("reason", "text", "kind"),
    [
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "requires a client certificate", "tls_client_cert_rejected"),
        ("SSLV3_ALERT_CERTIFICATE_EXPIRED", "client certificate has expired", "tls_client_cert_rejected"),
        ("TLSV1_ALERT_UNKNOWN_CA", "does not trust the CA", "tls_client_cert_rejected"),
        ("SSLV3_ALERT_BAD_CERTIFICATE", "refused our client certificate", "tls_client_cert_rejected"),
        ("SOMETHING_NEW", "TLS error: SOMETHING_NEW", "tls_protocol"),
    ],
)
def test_server_alerts_about_our_certificate(reason: str, text: str, kind: str) -> None:
    """Alerts a server sends about the client certificate are named as such (from trio's wrapping)."""
    error = ssl.SSLError(1, reason)
    error.reason = reason  # type: ignore[misc]
    try:
        raise trio.BrokenResourceError from error
    except trio.BrokenResourceError as wrapped:
        translated = transport_error(wrapped, target="gw:4318", action="reading the response")
    assert text in str(translated)
    assert translated.kind == kind
    assert str(translated).startswith("gw:4318: ")
