"""ServiceLink over a real datagram socket: READY/RELOADING/STOPPING/STATUS, and watchdog pings
that stop while the pipeline is wedged and resume when it recovers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from edge_agent.runtime import sdnotify
from edge_agent.runtime.liveness import Liveness, StageProbe
from edge_agent.runtime.service import ServiceLink, beat_event_loop
from edge_agent.runtime.summary import ServiceSummary

SUMMARY = ServiceSummary("running", "reachable", 3, 300, None, 2, "live")


class Receiver:
    """The test's stand-in for systemd's notification socket (a real bound AF_UNIX socket)."""

    def __init__(self, path: Path) -> None:
        self.sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_DGRAM)
        self.path = str(path)

    async def bind(self) -> None:
        await self.sock.bind(self.path)

    async def next(self) -> dict[str, str]:
        data = await self.sock.recv(4096)
        return dict(line.split("=", 1) for line in data.decode().splitlines())


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    r = Receiver(tmp_path / "notify")
    await r.bind()
    yield r
    r.sock.close()


@pytest.fixture
def links() -> Iterator[list[ServiceLink]]:
    made: list[ServiceLink] = []
    yield made
    for link in made:
        link.close()


def _link(
    receiver: Receiver, liveness: Liveness, links: list[ServiceLink], *, watchdog_usec: str = "10000000"
) -> ServiceLink:
    environ = {"NOTIFY_SOCKET": receiver.path, "WATCHDOG_USEC": watchdog_usec}

    def health() -> tuple[bool, str]:
        report = liveness.check(trio.current_time())
        return report.live, report.describe()

    link = ServiceLink.from_environ(
        environ, health=health, summary=lambda: SUMMARY, status_interval=lambda: 30.0
    )
    links.append(link)
    return link


async def test_state_changes_are_notified(receiver: Receiver, links: list[ServiceLink]) -> None:
    """READY, RELOADING (with MONOTONIC_USEC), READY after reload (or its failure), STOPPING."""
    link = _link(receiver, Liveness(1), links, watchdog_usec="")
    assert link.watchdog_period is None
    link.ready()
    assert await receiver.next() == {
        "READY": "1",
        "STATUS": "running, online: queue 3 records (300B), no export yet, 2 plugins",
    }
    before = sdnotify.monotonic_usec()
    link.reloading()
    message = await receiver.next()
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= sdnotify.monotonic_usec()
    link.reloaded("plugins.x.interval: must be greater than 0")
    assert await receiver.next() == {
        "READY": "1",
        "STATUS": "reload failed: plugins.x.interval: must be greater than 0",
    }
    link.stopping("stopping: draining 3 queued records (up to 10s)")
    assert (await receiver.next())["STOPPING"] == "1"
    link.failed("admin endpoint cannot listen")
    assert await receiver.next() == {"STATUS": "failed: admin endpoint cannot listen"}


async def test_watchdog_pings_only_while_live(
    receiver: Receiver, links: list[ServiceLink], autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Pings every half timeout while stages keep their promises; none while one is overdue;
    they resume once it makes progress again."""
    liveness = Liveness(grace=3)
    probe = StageProbe(liveness, "exporter", trio.current_time)
    stuck = False

    async def stage() -> None:  # an exporter loop that makes progress every half second unless stuck
        while True:
            if not stuck:
                probe.expect(1, "export request")
            await trio.sleep(0.5)

    link = _link(receiver, liveness, links)
    assert link.watchdog_period == 5.0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage)
        nursery.start_soon(link.run)
        with caplog.at_level(logging.WARNING, logger="edge_agent.service"):
            start = trio.current_time()
            for _ in range(3):
                assert await receiver.next() == {"WATCHDOG": "1"}
            assert trio.current_time() - start == pytest.approx(10)
            stuck = True
            silent = []
            with trio.move_on_after(30):
                while True:
                    silent.append(await receiver.next())
            assert silent == []  # the last promise (t=10, 1 s + 3 s grace) expired before the t=15 tick
            assert link.withheld >= 5
            stuck = False
            assert await receiver.next() == {"WATCHDOG": "1"}
            nursery.cancel_scope.cancel()
    assert "pipeline wedged: exporter (export request) made no progress" in caplog.text
    assert "watchdog pings resume" in caplog.text


async def test_status_is_refreshed_after_ready(
    receiver: Receiver, links: list[ServiceLink], autojump_clock: object
) -> None:
    """STATUS= goes out every status_interval once the agent is ready, not before."""
    link = _link(receiver, Liveness(1), links, watchdog_usec="")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.run)
        with trio.move_on_after(100):
            await receiver.next()
            pytest.fail("nothing may be sent before READY")
        link.ready()
        assert "READY" in await receiver.next()
        start = trio.current_time()
        assert set(await receiver.next()) == {"STATUS"}
        assert trio.current_time() - start == pytest.approx(30)
        nursery.cancel_scope.cancel()


async def test_without_notify_socket_everything_is_a_no_op(autojump_clock: object) -> None:
    """Started outside systemd: no socket, no watchdog, run returns at once."""
    link = ServiceLink.from_environ({}, health=lambda: (True, "live"), summary=lambda: SUMMARY,
                                    status_interval=lambda: 1.0)  # fmt: skip
    link.ready()
    link.stopping("x")
    with trio.fail_after(1):
        await link.run()
    assert link.notifier is None


async def test_event_loop_heartbeat_keeps_its_promise(autojump_clock: object) -> None:
    """The loop heartbeat re-promises every tick and is forgotten when it stops."""
    liveness = Liveness(grace=0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(beat_event_loop, StageProbe(liveness, "event_loop", trio.current_time), 5.0)
        for _ in range(10):
            await trio.sleep(2.5)
            assert liveness.check(trio.current_time()).live
        nursery.cancel_scope.cancel()
    assert liveness.stages() == []
