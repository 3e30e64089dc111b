"""The agent's exception hierarchy.

Every error the agent raises on purpose derives from :class:`EdgeAgentError`.
Foreign errors (``OSError``, ``ssl.SSLError``, trio's stream errors) are
translated at the boundary that calls them, with ``raise ... from exc``, so
callers above that boundary only need to know this module.

Messages are written for operators: one sentence that says what is wrong and,
where it helps, what to do about it.
"""

from __future__ import annotations


class EdgeAgentError(Exception):
    """Root of every error the agent raises deliberately."""


class ConfigError(EdgeAgentError):
    """A configuration value is missing, malformed or inconsistent.

    ``key`` is the full dotted path (``exporter.tls.ca_file``) and ``origin``
    says where the value came from (``/etc/edge-agent/agent.toml:12``,
    ``env EDGE_AGENT__EXPORTER__ENDPOINT``, ``default``) when known.
    """

    def __init__(self, message: str, *, key: str = "", origin: str = "") -> None:
        self.key = key
        self.origin = origin
        self.reason = message
        parts = []
        if key:
            parts.append(f"{key}: ")
        parts.append(message)
        if origin:
            parts.append(f" (from {origin})")
        super().__init__("".join(parts))


class PluginError(EdgeAgentError):
    """A plugin could not be found, loaded or configured, or failed at run time."""


class ReconfigureError(EdgeAgentError):
    """A new config could not be applied to the running agent; it keeps (or went back to) the old one.

    ``rolled_back`` is True when part of the new config had been applied and was undone.
    """

    def __init__(self, message: str, *, rolled_back: bool = False) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


class StorageError(EdgeAgentError):
    """Base of disk-buffer and state-store failures."""


class BufferCorruptError(StorageError):
    """Stored data failed its integrity check."""


class BufferFullError(StorageError):
    """The buffer cannot accept more data right now (budget or memory bound hit).

    Receivers turn this into 429/503 with Retry-After; scrapers skip a tick.
    """

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExportTransportError(EdgeAgentError):
    """The upstream could not be reached or the connection broke mid-request.

    ``kind`` is a short stable label for metrics and ``/status`` (``refused``,
    ``timeout``, ``tls_untrusted``, ...); the message is for people.
    """

    def __init__(self, message: str, *, kind: str = "transport") -> None:
        super().__init__(message)
        self.kind = kind


class UpstreamRejectedError(EdgeAgentError):
    """The upstream answered with a non-success status."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
