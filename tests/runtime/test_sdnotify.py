"""sd_notify messages, environment parsing, and the sender over real AF_UNIX datagram sockets."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.runtime import sdnotify


def test_messages_are_newline_terminated_assignments() -> None:
    """Each helper builds the documented KEY=VALUE lines."""
    assert sdnotify.ready() == b"READY=1\n"
    assert sdnotify.ready("up") == b"READY=1\nSTATUS=up\n"
    assert sdnotify.stopping("bye") == b"STOPPING=1\nSTATUS=bye\n"
    assert sdnotify.watchdog() == b"WATCHDOG=1\n"
    assert sdnotify.status("queue 3") == b"STATUS=queue 3\n"
    assert (
        sdnotify.reloading(123456, "reloading") == b"RELOADING=1\nMONOTONIC_USEC=123456\nSTATUS=reloading\n"
    )


def test_status_is_one_bounded_line() -> None:
    """STATUS= must be a single line: newlines are folded and long text is cut."""
    assert sdnotify.status("a\nb\t c") == b"STATUS=a b c\n"
    long = sdnotify.one_line("x" * 500)
    assert len(long) == sdnotify.MAX_STATUS_CHARS
    assert long.endswith("…")


@pytest.mark.parametrize(("key", "value"), [("", "1"), ("A=B", "1"), ("A\nB", "1"), ("STATUS", "a\nb")])
def test_encode_refuses_malformed_fields(key: str, value: str) -> None:
    """A key with '=' or a newline, or a multi-line value, would corrupt the message."""
    with pytest.raises(ValueError, match="sd_notify"):
        sdnotify.encode({key: value})


def test_monotonic_usec_is_clock_monotonic() -> None:
    """MONOTONIC_USEC uses CLOCK_MONOTONIC in microseconds (what systemd compares against)."""
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    value = sdnotify.monotonic_usec()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert before <= value <= after


@pytest.mark.parametrize(
    ("raw", "address"),
    [("/run/systemd/notify", "/run/systemd/notify"), ("@abstract/name", "\0abstract/name"), ("@", None),
     ("", None), ("vsock:2:1234", None), ("relative/path", None)],
)  # fmt: skip
def test_notify_address(raw: str, address: str | None) -> None:
    """Paths are used as is, '@' means the abstract namespace, anything else is unusable."""
    assert sdnotify.notify_address(raw) == address


@pytest.mark.parametrize(
    ("environ", "period"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_period_is_half_the_timeout_for_this_pid(
    environ: dict[str, str], period: float | None
) -> None:
    """WATCHDOG_USEC applies when WATCHDOG_PID is unset or ours; pings go at half the timeout."""
    assert sdnotify.watchdog_period(environ, pid=4242) == period


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify")
    sock.bind(address)
    sock.settimeout(5)
    yield sock, address
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"edge-agent-test/{uuid.uuid4()}"
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


@pytest.mark.parametrize("which", ["path_socket", "abstract_socket"])
def test_notifier_delivers_datagrams(which: str, request: pytest.FixtureRequest) -> None:
    """The sender reaches a socket bound by path and one in the abstract namespace, from our pid."""
    sock, raw = request.getfixturevalue(which)
    notifier = sdnotify.Notifier.from_environ({"NOTIFY_SOCKET": raw})
    assert notifier is not None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    assert notifier.send(sdnotify.ready("up"))
    data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    assert data == b"READY=1\nSTATUS=up\n"
    pid = int.from_bytes(ancillary[0][2][:4], "little")  # struct ucred: pid, uid, gid
    assert pid == os.getpid()
    assert notifier.sent == 1
    notifier.close()


def test_notifier_never_raises_and_warns_once_per_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody listening: send returns False, counts, and logs one warning, not one per message."""
    notifier = sdnotify.Notifier(str(tmp_path / "nobody-home"))
    with caplog.at_level(logging.WARNING, logger="edge_agent.sdnotify"):
        assert not notifier.send(sdnotify.watchdog())
        assert not notifier.send(sdnotify.watchdog())
    assert notifier.failed == 2
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()
    notifier.close()


def test_notifier_does_not_block_when_the_receiver_is_stuck(path_socket: tuple[socket.socket, str]) -> None:
    """A receiver that never reads fills its queue; sends then fail fast instead of blocking."""
    _, address = path_socket
    notifier = sdnotify.Notifier(address)
    started = time.monotonic()
    results = [notifier.send(sdnotify.status("x" * 150)) for _ in range(5000)]
    assert time.monotonic() - started < 5
    assert results[0]
    assert not results[-1]
    notifier.close()


def test_no_notify_socket_means_no_notifier(caplog: pytest.LogCaptureFixture) -> None:
    """Outside systemd there is nothing to notify; an unusable address is reported once."""
    assert sdnotify.Notifier.from_environ({}) is None
    with caplog.at_level(logging.WARNING):
        assert sdnotify.Notifier.from_environ({"NOTIFY_SOCKET": "vsock:2:99"}) is None
    assert "not a unix socket address" in caplog.text
