"""TLS over a trio stream: handshake, optional SPKI pin check, error translation.

Callers own the timeouts (wrap calls in ``trio.fail_after``). Every failure
leaves as :class:`~edge_agent.errors.ExportTransportError` with a precise
message (see :mod:`edge_agent.tls.errors`); the TCP stream is closed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import trio

from edge_agent.errors import ExportTransportError
from edge_agent.tls.der import DerError, cert_info
from edge_agent.tls.errors import transport_error
from edge_agent.tls.material import TlsMaterial


def check_pin(der: bytes | None, pins: frozenset[bytes], target: str) -> None:
    """Refuse the server unless its public key hash is one of ``pins`` (no pins: accept)."""
    if not pins:
        return
    if der is None:
        raise ExportTransportError(f"{target}: the server sent no certificate to pin", kind="tls_pin")
    try:
        spki = cert_info(der).spki_der
    except DerError as exc:
        message = f"{target}: cannot read the server certificate: {exc}"
        raise ExportTransportError(message, kind="tls_pin") from exc
    if hashlib.sha256(spki).digest() not in pins:
        raise ExportTransportError(
            f"{target}: the server's public key matches none of exporter.tls.pinned_spki_sha256 "
            "(the server key changed, or this is not the expected server)",
            kind="tls_pin",
        )


async def start_tls(
    stream: trio.abc.Stream, material: TlsMaterial, *, host: str, target: str
) -> trio.SSLStream[trio.abc.Stream]:
    """Handshake over ``stream`` as a client; the result is verified and pinned."""
    server_name = material.server_name(host)
    tls = trio.SSLStream(stream, material.context, server_hostname=server_name, https_compatible=True)
    try:
        await tls.do_handshake()
        check_pin(tls.getpeercert(binary_form=True), material.pins(), target)
    except BaseException as exc:
        await _close_quietly(stream)
        if isinstance(exc, ExportTransportError):
            raise
        if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError, OSError)):
            raise transport_error(
                exc, target=target, action="TLS handshake", server_name=server_name
            ) from exc
        raise
    return tls


async def _close_quietly(stream: trio.abc.Stream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        try:
            await stream.aclose()
        except (trio.BrokenResourceError, OSError):
            pass


async def probe(
    material: TlsMaterial,
    host: str,
    port: int,
    exchange: Callable[[trio.abc.Stream], Awaitable[None]] | None = None,
) -> str:
    """Connect and handshake with ``material`` to test it; return the TLS version.

    For rotating credentials from code (the fleet client): load a candidate,
    ``probe`` it against the real upstream, and only then swap it in. With
    TLS 1.3 the server checks the client certificate *after* the handshake,
    so pass ``exchange`` (e.g. one HTTP request over the stream) to learn
    whether it was accepted. Raises :class:`ExportTransportError`; wrap the
    call in ``trio.fail_after``.
    """
    target = f"{host}:{port}"
    try:
        tcp = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise transport_error(exc, target=target, action="connecting") from exc
    tls = await start_tls(tcp, material, host=host, target=target)
    try:
        if exchange is not None:
            await exchange(tls)
        return tls.version() or "unknown"
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        server_name = material.server_name(host)
        raise transport_error(exc, target=target, action="probing", server_name=server_name) from exc
    finally:
        await _close_quietly(tls)
