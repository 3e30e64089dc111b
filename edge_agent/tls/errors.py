"""Translate socket and TLS failures into one precise sentence and a stable kind.

trio reports a TLS failure as ``BrokenResourceError`` whose ``__cause__`` is
the ``ssl.SSLError``; a failed connect is an ``OSError`` wrapping an
exception group of per-address errors. :func:`transport_error` digs out the
most specific cause and says what it means and what to do, e.g.
``server certificate is not valid for 'gw.example' (check the endpoint host
or set exporter.tls.server_name_override)``.
"""

from __future__ import annotations

import errno
import os
import ssl

from edge_agent.errors import ExportTransportError

# OpenSSL X509_V_ERR_* codes, as reported in SSLCertVerificationError.verify_code
_EXPIRED, _NOT_YET_VALID, _REVOKED = 10, 9, 23
_UNTRUSTED = {2, 18, 19, 20, 21, 27}
_NAME_MISMATCH = {62, 64}

# reasons (ssl.SSLError.reason) of alerts a server sends about our certificate
_CLIENT_CERT_ALERTS = {
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server says our client certificate has expired",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the CA that signed our client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused our client certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server refused our client certificate",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the server says our client certificate is revoked",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate and we sent none",
    "TLSV1_ALERT_ACCESS_DENIED": "the server denied access to our client certificate",
}
_VERSION_REASONS = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}

_ERRNO_KINDS = {
    errno.ECONNREFUSED: ("refused", "connection refused (is the collector running and listening there?)"),
    errno.ECONNRESET: ("reset", "connection reset by the server"),
    errno.EPIPE: ("reset", "connection closed by the server while sending"),
    errno.ETIMEDOUT: ("timeout", "connection timed out"),
    errno.ENETUNREACH: ("unreachable", "network is unreachable (is the link up?)"),
    errno.EHOSTUNREACH: ("unreachable", "no route to host (is the link up?)"),
}


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (causes, contexts, group members), outermost first."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop(0)
        if current in seen:
            continue
        seen.append(current)
        stack.extend(getattr(current, "exceptions", ()))
        for inner in (current.__cause__, current.__context__):
            if inner is not None:
                stack.append(inner)
    return seen


def _describe_verify(exc: ssl.SSLCertVerificationError, server_name: str, prefix: str) -> tuple[str, str]:
    code = exc.verify_code
    if code == _EXPIRED:
        return "tls_expired", "the server's certificate has expired (renew it on the server)"
    if code == _NOT_YET_VALID:
        return "tls_expired", "the server's certificate is not valid yet (check both clocks)"
    if code == _REVOKED:
        return "tls_untrusted", "the server's certificate is revoked"
    if code in _NAME_MISMATCH:
        return "tls_hostname", (
            f"the server's certificate is not valid for {server_name!r} (check the endpoint host, "
            f"or set {prefix}.server_name_override to a name the certificate carries)"
        )
    if code in _UNTRUSTED:
        return "tls_untrusted", (
            f"the server's certificate is not signed by a trusted CA ({exc.verify_message}; "
            f"check {prefix}.ca_file)"
        )
    return "tls_untrusted", f"the server's certificate failed verification: {exc.verify_message}"


def _is_eof(exc: ssl.SSLError) -> bool:
    return isinstance(exc, ssl.SSLEOFError) or exc.reason == "UNEXPECTED_EOF_WHILE_READING"


def _describe_ssl(exc: ssl.SSLError, server_name: str, prefix: str) -> tuple[str, str]:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _describe_verify(exc, server_name, prefix)
    reason = str(exc.reason or "")
    if reason in _CLIENT_CERT_ALERTS:
        return "tls_client_cert_rejected", f"{_CLIENT_CERT_ALERTS[reason]} (check {prefix}.cert_file)"
    if reason == "WRONG_VERSION_NUMBER":
        return "tls_protocol", "the server does not speak TLS on this port (use http:// or the TLS port)"
    if reason in _VERSION_REASONS:
        return "tls_protocol", f"no TLS version in common with the server (check {prefix}.min_version)"
    if _is_eof(exc):
        return "tls_protocol", "the server closed the connection during the TLS exchange"
    return "tls_protocol", f"TLS error: {reason or exc}"


def transport_error(
    exc: BaseException, *, target: str, action: str, server_name: str = "", prefix: str = "exporter.tls"
) -> ExportTransportError:
    """An :class:`ExportTransportError` for ``exc`` raised while ``action`` (e.g. "connecting")."""
    causes = _causes(exc)
    for inner in causes:
        if isinstance(inner, ssl.SSLError):
            kind, text = _describe_ssl(inner, server_name, prefix)
            if _is_eof(inner) and action == "TLS handshake":
                text += (
                    f" (it may accept neither our TLS version, see {prefix}.min_version, "
                    "nor our client certificate; its log says which)"
                )
            return ExportTransportError(f"{target}: {text}", kind=kind)
    for inner in causes:
        if isinstance(inner, OSError) and inner.errno in _ERRNO_KINDS:
            kind, text = _ERRNO_KINDS[inner.errno]
            return ExportTransportError(f"{target}: {text} while {action}", kind=kind)
    for inner in causes:
        if isinstance(inner, OSError) and inner.errno:
            kind = "dns" if inner.errno < 0 else "transport"  # getaddrinfo errors are negative
            text = inner.strerror or os.strerror(inner.errno)
            return ExportTransportError(f"{target}: {text} while {action}", kind=kind)
    text = str(exc) or type(exc).__name__
    return ExportTransportError(f"{target}: connection failed while {action} ({text})", kind="transport")
