"""Who can reach a local listener: loopback-only by default, anything wider needs a token.

The admin endpoint and the receivers bind to loopback (or a unix socket) by
default. Binding to any other address is an explicit choice in the config,
and it must come with a bearer token, or the agent refuses to start: a
mistyped ``0.0.0.0`` must never expose ``/status`` or an ingest port to the
network unauthenticated.
"""

from __future__ import annotations

import hmac
import ipaddress

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def is_loopback_host(host: str) -> bool:
    """True for ``127.0.0.0/8``, ``::1`` and the names that always mean them; False for anything else.

    An empty host, ``0.0.0.0`` and ``::`` mean "every interface"; other host
    names could resolve anywhere. Both count as exposed.
    """
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def check_listener_exposure(host: str, *, authenticated: bool, what: str, remedy: str) -> None:
    """Raise ``ValueError`` (the config loader names the key) for a non-loopback, unauthenticated bind.

    ``remedy`` says what to set, e.g. ``"bearer_token_file (a file holding a
    token, mode 0600)"``.
    """
    if is_loopback_host(host) or authenticated:
        return
    shown = host or "every interface"
    raise ValueError(
        f"{what} would listen on {shown}, reachable from the network, without authentication: "
        f"set {remedy}, or bind to 127.0.0.1"
    )


def token_matches(given: bytes, expected: bytes) -> bool:
    """Constant-time comparison of an ``Authorization`` header value with the expected one."""
    return hmac.compare_digest(given, expected)
