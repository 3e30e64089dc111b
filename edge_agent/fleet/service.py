"""The fleet client task: polls the OpAMP server, reports, and hands offers to their handlers.

Theory of operation. One loop asks the protocol core
(:class:`~.protocol.ClientCore`) for the next message, POSTs it
(:class:`~.transport.OpampTransport`), and feeds the answer back. Between
exchanges it waits the (jittered) heartbeat interval, or less when there is
news: a status change (APPLYING -> APPLIED, a rotation result) wakes it at
once, so the server hears about an apply within a round trip, not a poll
interval. Failures back off (:mod:`.timing`); nothing here ever stops the
agent: an unreachable fleet server only means the agent keeps running its
last-known-good config.

Offers are handled beside the loop, one at a time, so a 30 s health window
never holds up heartbeats: remote configs by
:class:`~.apply.RemoteConfigManager`, certificates by
:class:`~.rotation.CertificateRotator`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from edge_agent.config.sources import Tree
from edge_agent.errors import EdgeAgentError, ExportTransportError
from edge_agent.export.otlp_http import parse_retry_after
from edge_agent.fleet import messages as m
from edge_agent.fleet.apply import ApplyStatus, Loader, RemoteConfigManager
from edge_agent.fleet.boot import FleetBoot
from edge_agent.fleet.protocol import (
    CertificateOffer,
    ClientCore,
    Outcome,
    ProtocolError,
    RemoteConfigOffer,
    Report,
)
from edge_agent.fleet.report import ReportBuilder
from edge_agent.fleet.rotation import CertificateRotator, CertPaths
from edge_agent.fleet.timing import PollTiming
from edge_agent.fleet.transport import Connector, OpampTransport, opamp_endpoint, open_tcp
from edge_agent.runtime.ratelimit import RepeatLimiter, ReportKind
from edge_agent.runtime.state import CborStateStore, ensure_private_dir

if TYPE_CHECKING:
    from edge_agent.fleet.tlswire import FleetTls

log = logging.getLogger("edge_agent.fleet")

MAX_BACK_TO_BACK = 5
INTERRUPTED = (
    "the agent restarted while applying this config (crash, kill or power loss); it runs the previous "
    "config again and will not retry this one: push it again with a newer version"
)


class FleetService:
    def __init__(
        self,
        boot: FleetBoot,
        loader: Loader,
        state_dir: Path,
        *,
        connect: Connector = open_tcp,
        environ: Mapping[str, str] | None = None,
        tls: FleetTls | None = None,
    ) -> None:
        self.boot = boot
        self.fleet = boot.loaded.config.fleet
        self.loader = loader
        self.state_dir = state_dir
        self.connect = connect
        self.environ = environ or {}
        self.timing = PollTiming(self.fleet.poll_jitter)
        self.manager: RemoteConfigManager | None = None
        self.core: ClientCore | None = None
        self.transport: OpampTransport | None = None
        self.last_error: str | None = None
        self._news = trio.Event()
        self._offer: RemoteConfigOffer | None = None
        self._offer_ready = trio.Event()
        self._unreachable = RepeatLimiter()
        self.reports = ReportBuilder(self.fleet)
        self._state: CborStateStore | None = None
        self.tls = tls
        self.rotator: CertificateRotator | None = None
        self._cert_offer: CertificateOffer | None = None
        self._cert_ready = trio.Event()
        self._csr = b""

    # -- start -------------------------------------------------------------

    def capabilities(self) -> int:
        caps = (
            m.REPORTS_STATUS
            | m.REPORTS_EFFECTIVE_CONFIG
            | m.REPORTS_HEALTH
            | m.REPORTS_HEARTBEAT
            | m.REPORTS_REMOTE_CONFIG
        )
        if self.fleet.public_key_file:
            caps |= m.ACCEPTS_REMOTE_CONFIG
        can_rotate = self.tls is not None and self.tls.cert_paths() is not None
        if can_rotate and (self.fleet.accept_certificates or self.fleet.request_certificate):
            caps |= m.ACCEPTS_OPAMP_CONNECTION_SETTINGS | m.REPORTS_CONNECTION_SETTINGS_STATUS
        return caps

    def layer(self) -> tuple[Tree, str] | None:
        """The fleet layer for a SIGHUP reload: the remote config in effect right now."""
        if self.manager is not None:
            return self.manager.layer()
        from edge_agent.fleet.apply import layer_of

        return layer_of(self.boot.running, self.fleet) if self.boot.running else None

    async def _instance_uid(self, state: CborStateStore) -> bytes:
        uid = state.get("instance_uid")
        if isinstance(uid, bytes) and len(uid) == 16:
            return uid
        uid = m.uuid7()
        await state.put("instance_uid", uid)
        return uid

    def _restore_status(self, manager: RemoteConfigManager, core: ClientCore, state: CborStateStore) -> None:
        if self.boot.running is not None:
            core.mark_config_handled(self.boot.running.config_hash)
        interrupted = self.boot.decision.interrupted
        if interrupted is not None:
            manager.status = ApplyStatus(interrupted.config_hash, m.STATUS_FAILED, INTERRUPTED)
            core.mark_config_handled(interrupted.config_hash)
            return
        last = state.get("last_status")
        if (
            isinstance(last, dict)
            and last.get("status") == m.STATUS_FAILED
            and isinstance(last.get("hash"), bytes)
        ):
            manager.status = ApplyStatus(last["hash"], m.STATUS_FAILED, str(last.get("error", "")))
            core.mark_config_handled(last["hash"])

    async def run(self, agent: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        directory = ensure_private_dir(self.state_dir / "fleet")
        state = self._state = CborStateStore(directory / "client.cbor")
        core = self.core = ClientCore(
            await self._instance_uid(state), self.capabilities(), default_interval=self.fleet.poll_interval
        )
        self.manager = RemoteConfigManager(
            agent,
            fleet=self.fleet,
            store=self.boot.store,
            loader=self.loader,
            running=self.boot.running,
            loaded=self.boot.loaded,
            on_change=self._notify,
        )
        self._restore_status(self.manager, core, state)
        self.transport = OpampTransport(
            opamp_endpoint(self.fleet.endpoint),
            connect=self.connect,
            compression=self.fleet.compression,
            headers=self.fleet.headers,
            timeout=self.fleet.timeout,
        )
        agent.status_extras["fleet"] = self.status
        log.info("fleet: instance %s reporting to %s", m.uid_text(core.instance_uid), self.fleet.endpoint)
        await self._start_tls(agent, core)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._apply_worker)
                nursery.start_soon(self._rotation_worker)
                task_status.started()
                await self._poll_loop(agent, core, self.transport)
        finally:
            with trio.CancelScope(shield=True):
                await self.transport.aclose()

    # -- reporting ---------------------------------------------------------

    def report(self, agent: Any) -> Report:
        assert self.manager is not None
        return self.reports.build(
            agent,
            self.manager.loaded,
            remote_status=self.manager.status.message(),
            connection_status=self.rotator.status.message() if self.rotator else None,
            csr=self._csr,
        )

    async def _start_tls(self, agent: Any, core: ClientCore) -> None:
        """Load the OpAMP connection's TLS credentials; set up certificate rotation."""
        tls, transport = self.tls, self.transport
        if tls is None or transport is None:
            return
        if transport.endpoint.scheme == "https":
            await self._load_credentials()
        paths = tls.cert_paths()
        if paths is None:
            return

        async def probe(candidate: CertPaths) -> None:
            hello = m.AgentToServer(
                instance_uid=core.instance_uid, sequence_num=core.sequence_num, capabilities=core.capabilities
            )
            await tls.probe(candidate, transport.endpoint, hello.SerializeToString(), agent)

        async def install(rotated: CertPaths) -> None:
            await tls.install(rotated, agent)

        self.rotator = CertificateRotator(
            self.state_dir, paths, probe=probe, install=install, on_change=self._notify
        )
        self._csr = await trio.to_thread.run_sync(self._certificate_request, m.uid_text(core.instance_uid))

    async def _load_credentials(self) -> None:
        assert self.tls is not None
        assert self.transport is not None
        try:
            credentials = await trio.to_thread.run_sync(self.tls.load)
        except EdgeAgentError as exc:
            self.last_error = f"cannot load the fleet TLS credentials: {exc}"
            log.error("fleet: %s; the agent runs on without the fleet and retries", self.last_error)
            return
        self.transport.pool.credentials = credentials

    def _certificate_request(self, common_name: str) -> bytes:
        """A CSR to send when asked to and the certificate is missing or expiring (blocking)."""
        from edge_agent.fleet import csr

        if not self.fleet.request_certificate or self.tls is None:
            return b""
        current = self.tls.current_cert()
        if current is not None and not csr.expires_within(current, self.fleet.renew_before):
            return b""
        log.info("fleet: requesting a client certificate from the fleet server (CSR for %s)", common_name)
        return csr.pending_request(self.state_dir, common_name).csr_pem

    # -- the loop ----------------------------------------------------------

    async def _refresh_credentials(self) -> None:
        """https only: load credentials that failed to load before; follow changed certificate files."""
        if self.tls is None or self.transport is None or self.transport.endpoint.scheme != "https":
            return
        credentials = self.transport.pool.credentials
        if credentials is None:
            await self._load_credentials()
        elif credentials.current.config.reload_interval:
            await credentials.reload_if_changed()

    def _notify(self) -> None:
        self._news.set()

    async def _poll_loop(self, agent: Any, core: ClientCore, transport: OpampTransport) -> None:
        at_once = 0
        while True:
            self._news = trio.Event()
            delay = await self._exchange(agent, core, transport)
            if delay is None and at_once < MAX_BACK_TO_BACK:
                at_once += 1  # news to send right away (bounded: a server asking for full state forever)
                continue
            at_once = 0
            with trio.move_on_after(delay if delay is not None else core.poll_interval()):
                await self._news.wait()

    async def _exchange(self, agent: Any, core: ClientCore, transport: OpampTransport) -> float | None:
        """One request/response; returns how long to wait before the next one (None: at once)."""
        await self._refresh_credentials()
        body = core.next_message(self.report(agent))
        try:
            with trio.fail_after(self.fleet.timeout):
                response = await transport.exchange(body, core.instance_uid)
        except (ExportTransportError, trio.TooSlowError, OSError) as exc:
            core.on_failure()
            reason = "no answer in time" if isinstance(exc, trio.TooSlowError) else str(exc)
            return self._failed(reason, self.timing.after_failure())
        if response.status in (429, 503):
            core.on_failure()
            retry = parse_retry_after(response.header("retry-after"), now=time.time())
            return self._failed(f"HTTP {response.status} (throttled)", self.timing.after_throttle(retry))
        if not 200 <= response.status < 300:
            core.on_failure()
            return self._failed(
                f"HTTP {response.status}: {response.body[:200]!r}", self.timing.after_failure()
            )
        try:
            outcome = core.on_response(response.body)
        except ProtocolError as exc:
            return self._failed(str(exc), self.timing.after_failure())
        return await self._after(agent, core, outcome)

    async def _after(self, agent: Any, core: ClientCore, outcome: Outcome) -> float | None:
        if outcome.unavailable:
            return self._failed("the server is unavailable", self.timing.after_throttle(outcome.retry_after))
        self._reachable()
        for what in outcome.ignored:
            log.info("fleet: ignored %s", what)
        if outcome.refused:
            log.error("fleet: %s", outcome.refused)
        if outcome.new_instance_uid is not None and self._state is not None:
            log.warning(
                "fleet: the server assigned a new instance uid %s", m.uid_text(outcome.new_instance_uid)
            )
            await self._state.put("instance_uid", outcome.new_instance_uid)
        if outcome.remote_config is not None:
            core.mark_config_handled(outcome.remote_config.config_hash)
            self._offer = outcome.remote_config
            self._offer_ready.set()
        if outcome.certificate is not None:
            self._cert_offer = outcome.certificate
            self._cert_ready.set()
        if outcome.send_now:
            return None  # status changes need no check here: they set the news event the loop waits on
        return self.timing.after_success(core.poll_interval())

    def _failed(self, reason: str, delay: float) -> float:
        self.last_error = reason
        report = self._unreachable.failure(trio.current_time())
        if report.kind is ReportKind.FIRST:
            log.warning(
                "fleet server %s unreachable (%s); the agent keeps its config and retries",
                self.fleet.endpoint,
                reason,
            )
        elif report.kind is ReportKind.SUMMARY:
            log.warning(
                "fleet server still unreachable after %s (%d attempts; last: %s)",
                report.lasted(),
                report.failures,
                reason,
            )
        return delay

    def _reachable(self) -> None:
        self.last_error = None
        report = self._unreachable.success(trio.current_time())
        if report is not None:
            log.info("fleet server reachable again after %s", report.lasted())

    async def _apply_worker(self) -> None:
        assert self.manager is not None
        while True:
            await self._offer_ready.wait()
            self._offer_ready = trio.Event()
            offer, self._offer = self._offer, None
            if offer is None:
                continue
            status = await self.manager.apply(offer)
            if self._state is not None:
                await self._state.put(
                    "last_status",
                    {"hash": status.config_hash, "status": status.status, "error": status.error},
                )

    async def _rotation_worker(self) -> None:
        while True:
            await self._cert_ready.wait()
            self._cert_ready = trio.Event()
            offer, self._cert_offer = self._cert_offer, None
            if offer is None:
                continue
            if self.rotator is None or not (
                self.fleet.accept_certificates or (self._csr and not offer.key_pem)
            ):
                log.info("fleet: ignored a certificate offer (fleet.accept_certificates = false or no TLS)")
                continue
            status = await self.rotator.rotate(offer)
            if status.status == m.STATUS_APPLIED and not offer.key_pem:
                self._csr = b""  # answered

    def _rotation_status(self) -> dict[str, Any] | None:
        if self.rotator is None:
            return None
        status = self.rotator.status
        rotations = self.rotator.rotations
        return {"status": m.STATUS_NAMES[status.status], "error": status.error, "rotations": rotations}

    def status(self) -> dict[str, Any]:
        """For /status and tests."""
        core, manager = self.core, self.manager
        return {
            "endpoint": self.fleet.endpoint,
            "instance_uid": m.uid_text(core.instance_uid) if core else None,
            "last_error": self.last_error,
            "remote_config": manager.status.as_dict() if manager else None,
            "running_version": manager.running.version if manager and manager.running else None,
            "messages_sent": core.messages_sent if core else 0,
            "certificate": self._rotation_status(),
        }
