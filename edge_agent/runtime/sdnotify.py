"""The systemd notification protocol (sd_notify(3)), without libsystemd.

A notification is one datagram of newline-separated ``KEY=value``
assignments sent to the ``AF_UNIX`` socket named by ``$NOTIFY_SOCKET``: a
filesystem path when it starts with ``/``, a Linux abstract-namespace name
when it starts with ``@`` (the ``@`` stands for a leading NUL byte). The
kernel attaches our credentials; systemd accepts messages from the main
process (``NotifyAccess=main``). ``vsock:`` addresses (VM boot
notification) are not used by services and are not supported here.

The functions below build messages and read the environment (pure, no I/O);
:class:`Notifier` is the tiny sender: one non-blocking ``sendto`` per
message, never raising, because a lost status message must never stop the
agent. ``$WATCHDOG_USEC`` applies only when ``$WATCHDOG_PID`` is unset or
names this process (sd_watchdog_enabled(3)); the recommended ping period
is half the timeout.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("edge_agent.sdnotify")

MAX_STATUS_CHARS = 200


# -- messages ---------------------------------------------------------------


def encode(fields: Mapping[str, str]) -> bytes:
    """``{"READY": "1", "STATUS": "up"}`` -> ``b"READY=1\\nSTATUS=up\\n"``."""
    lines = []
    for key, value in fields.items():
        if not key or "=" in key or "\n" in key:
            raise ValueError(f"invalid sd_notify key {key!r}")
        if "\n" in value:
            raise ValueError(f"sd_notify value for {key} must be one line")
        lines.append(f"{key}={value}\n")
    return "".join(lines).encode("utf-8")


def one_line(text: str, limit: int = MAX_STATUS_CHARS) -> str:
    """Make ``text`` a valid ``STATUS=`` value: one line, bounded length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _with_status(fields: dict[str, str], status: str | None) -> bytes:
    if status is not None:
        fields["STATUS"] = one_line(status)
    return encode(fields)


def ready(status: str | None = None) -> bytes:
    return _with_status({"READY": "1"}, status)


def reloading(monotonic_usec: int, status: str | None = None) -> bytes:
    # MONOTONIC_USEC lets Type=notify-reload managers (systemd >= 253) match the
    # RELOADING=1 to the reload they requested; older ones ignore it.
    return _with_status({"RELOADING": "1", "MONOTONIC_USEC": str(monotonic_usec)}, status)


def stopping(status: str | None = None) -> bytes:
    return _with_status({"STOPPING": "1"}, status)


def status(text: str) -> bytes:
    return _with_status({}, text)


def watchdog() -> bytes:
    return encode({"WATCHDOG": "1"})


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd compares MONOTONIC_USEC against."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


# -- environment ------------------------------------------------------------


def notify_address(value: str) -> str | None:
    """The ``AF_UNIX`` address for ``$NOTIFY_SOCKET``, or None when unusable (empty, vsock)."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


def watchdog_period(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None when off."""
    text = environ.get("WATCHDOG_USEC", "")
    if not text:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) != pid:
                return None  # the variable was meant for another process (we were forked)
        except ValueError:
            return None
    try:
        usec = int(text)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", text)
        return None
    return usec / 2_000_000 if usec > 0 else None


# -- sender -----------------------------------------------------------------


class Notifier:
    """Sends notifications to one socket; failures are logged once per kind and counted."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sent = 0
        self.failed = 0
        self._reported: set[int] = set()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier | None:
        raw = environ.get("NOTIFY_SOCKET", "")
        if not raw:
            return None
        address = notify_address(raw)
        if address is None:
            log.warning("NOTIFY_SOCKET=%r is not a unix socket address; not notifying systemd", raw)
            return None
        return cls(address)

    def send(self, message: bytes) -> bool:
        """Send one datagram without waiting; False (and a one-time warning) on failure."""
        try:
            self._sock.sendto(message, self.address)
        except OSError as exc:
            self.failed += 1
            code = exc.errno or 0
            if code not in self._reported:
                self._reported.add(code)
                reason = "socket buffer full" if code == errno.EAGAIN else (exc.strerror or str(exc))
                log.warning("cannot notify systemd at %s: %s", self._printable(), reason)
            return False
        self.sent += 1
        return True

    def _printable(self) -> str:
        return "@" + self.address[1:] if self.address.startswith("\0") else self.address

    def close(self) -> None:
        self._sock.close()
