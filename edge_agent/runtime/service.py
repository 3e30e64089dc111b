"""Keeping systemd informed: readiness, reloads, shutdown, status and the watchdog.

:class:`ServiceLink` is the trio shell around :mod:`edge_agent.runtime.sdnotify`.
The command that runs the agent calls :meth:`~ServiceLink.ready` once the
pipeline is up, :meth:`~ServiceLink.reloading`/:meth:`~ServiceLink.reloaded`
around a reload and :meth:`~ServiceLink.stopping` on SIGTERM; :meth:`run`
refreshes ``STATUS=`` every ``status_interval`` and, when systemd set
``$WATCHDOG_USEC``, sends ``WATCHDOG=1`` every half timeout **only while the
pipeline is live** (:class:`~edge_agent.runtime.liveness.Liveness`). A wedged
agent therefore goes silent and systemd restarts it; should the stall clear
before systemd acts, the pings resume.

Without ``$NOTIFY_SOCKET`` (not started by systemd) every call is a no-op,
and the liveness still drives ``/healthz``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

import trio

from edge_agent.runtime import sdnotify
from edge_agent.runtime.clock import sleep_to_next_tick
from edge_agent.runtime.liveness import StageProbe
from edge_agent.runtime.summary import ServiceSummary, status_line

log = logging.getLogger("edge_agent.service")

EVENT_LOOP_TICK = 10.0  # the default scrape interval: the beat shares the scrape's aligned wake-up


async def beat_event_loop(probe: StageProbe, period: float = EVENT_LOOP_TICK) -> None:
    """The event loop's own heartbeat: a loop too starved to wake this task is wedged."""
    try:
        while True:
            probe.expect(period, "event loop tick")
            await sleep_to_next_tick(period)
    finally:
        probe.forget()


class ServiceLink:
    def __init__(
        self,
        notifier: sdnotify.Notifier | None,
        *,
        watchdog_period: float | None,
        health: Callable[[], tuple[bool, str]],
        summary: Callable[[], ServiceSummary],
        status_interval: Callable[[], float],
    ) -> None:
        self.notifier = notifier
        self.watchdog_period = watchdog_period
        self._health = health
        self._summary = summary
        self._status_interval = status_interval
        self._ready = trio.Event()
        self.pings = 0
        self.withheld = 0

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        health: Callable[[], tuple[bool, str]],
        summary: Callable[[], ServiceSummary],
        status_interval: Callable[[], float],
    ) -> ServiceLink:
        notifier = sdnotify.Notifier.from_environ(environ)
        period = sdnotify.watchdog_period(environ, os.getpid()) if notifier else None
        return cls(
            notifier,
            watchdog_period=period,
            health=health,
            summary=summary,
            status_interval=status_interval,
        )

    def _send(self, message: bytes) -> None:
        if self.notifier is not None:
            self.notifier.send(message)

    def status_text(self) -> str:
        return status_line(self._summary(), time.time())

    # -- state changes -----------------------------------------------------

    def ready(self) -> None:
        """The pipeline is running: every stage has started."""
        self._send(sdnotify.ready(self.status_text()))
        self._ready.set()

    def reloading(self) -> None:
        self._send(sdnotify.reloading(sdnotify.monotonic_usec(), "reloading configuration"))

    def reloaded(self, problem: str | None = None) -> None:
        """The reload finished (applied, or refused with ``problem``); READY=1 ends it either way."""
        text = f"reload failed: {problem}" if problem else self.status_text()
        self._send(sdnotify.ready(text))

    def stopping(self, detail: str) -> None:
        self._send(sdnotify.stopping(detail))

    def failed(self, reason: str) -> None:
        self._send(sdnotify.status(f"failed: {reason}"))

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()

    # -- periodic work -----------------------------------------------------

    async def run(self) -> None:
        if self.notifier is None:
            return
        async with trio.open_nursery() as nursery:
            if self.watchdog_period is not None:
                nursery.start_soon(self._feed_watchdog, self.watchdog_period)
            nursery.start_soon(self._refresh_status)

    async def _refresh_status(self) -> None:
        await self._ready.wait()
        while True:
            await trio.sleep(self._status_interval())
            self._send(sdnotify.status(self.status_text()))

    async def _feed_watchdog(self, period: float) -> None:
        wedged = False
        while True:
            live, why = self._health()
            if live:
                self._send(sdnotify.watchdog())
                self.pings += 1
                if wedged:
                    log.warning("pipeline is live again; watchdog pings resume")
                wedged = False
            else:
                self.withheld += 1
                if not wedged:
                    log.error("pipeline %s; withholding watchdog pings so systemd restarts the agent", why)
                wedged = True
            await sleep_to_next_tick(period)
