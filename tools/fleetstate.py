"""The fleet server's protocol state (sans-IO): AgentToServer bytes in, ServerToAgent bytes out.

Used by ``tools/fleet_server.py`` and by the tests. Per agent (by
``instance_uid``) it keeps what the agent reported, remembers what config
and certificate the operator wants it to have, and answers each message:

* ``ReportFullState`` when the ``sequence_num`` is not exactly one more than
  the last one (the server missed a message or restarted), or when a new
  agent's first message lacks its description;
* the desired remote config while the agent's reported
  ``last_remote_config_hash`` differs from it;
* connection settings: the heartbeat interval (first answer and after a
  full-state request) and a pending certificate offer, re-sent until the
  agent reports a ConnectionSettingsStatus for its hash (agents without that
  capability get it once);
* CSRs (agent-initiated certificate flow) are signed with the configured CA
  when their common name is the sender's instance UID (the spec's "Using
  instance_uid in the CSR"); otherwise the answer is a BadRequest error.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from edge_agent.fleet import effective
from edge_agent.fleet import messages as m
from edge_agent.fleet._proto import opamp_pb2

SERVER_CAPABILITIES = (
    m.SERVER_ACCEPTS_STATUS
    | m.SERVER_OFFERS_REMOTE_CONFIG
    | m.SERVER_ACCEPTS_EFFECTIVE_CONFIG
    | m.SERVER_OFFERS_CONNECTION_SETTINGS
    | m.SERVER_ACCEPTS_CONNECTION_SETTINGS_REQUEST
)
CsrSigner = Callable[[bytes, str], tuple[bytes, bytes]]  # (csr pem, expected CN) -> (cert pem, ca pem)


@dataclass(frozen=True)
class Desired:
    files: dict[str, tuple[bytes, str]]  # name -> (body, content type)
    config_hash: bytes

    @classmethod
    def of(cls, files: dict[str, tuple[bytes, str]]) -> Desired:
        digest = hashlib.sha256()
        for name in sorted(files):
            body, content_type = files[name]
            for part in (name.encode(), content_type.encode(), body):
                digest.update(len(part).to_bytes(8, "big") + part)
        return cls(files, digest.digest())


@dataclass
class CertOffer:
    cert: bytes
    key: bytes
    ca: bytes
    offer_hash: bytes
    sent: int = 0


@dataclass
class AgentState:
    uid: bytes
    sequence_num: int = -1
    capabilities: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)
    health: m.ComponentHealth | None = None
    effective_body: bytes = b""
    remote_hash: bytes = b""
    remote_status: int = m.STATUS_UNSET
    remote_error: str = ""
    cert_status: tuple[bytes, int, str] = (b"", m.STATUS_UNSET, "")
    last_seen: float = 0.0
    messages: int = 0
    full_state_requests: int = 0
    heartbeat_sent: bool = False
    csr_error: str = ""
    offered_hash: bytes = b""
    offered_unix: float = 0.0  # when the desired config was first sent to this agent
    applied_unix: float = 0.0  # when the agent first reported it APPLIED

    @property
    def uid_text(self) -> str:
        return m.uid_text(self.uid) if len(self.uid) == 16 else self.uid.hex()

    @property
    def labels(self) -> dict[str, str]:
        prefix = "fleet.label."
        return {k[len(prefix) :]: str(v) for k, v in self.attributes.items() if k.startswith(prefix)}

    def summary(self) -> dict[str, Any]:
        health = self.health
        return {
            "instance_uid": self.uid_text,
            "name": self.attributes.get("host.name"),
            "version": self.attributes.get("service.version"),
            "labels": self.labels,
            "healthy": health.healthy if health is not None else None,
            "health": _health_dict(health) if health is not None else None,
            "effective_config_sha256": effective.settings_hash(self.effective_body)
            if self.effective_body
            else None,
            "effective_config": self.effective_body.decode("utf-8", "replace"),
            "remote_config": {
                "hash": self.remote_hash.hex(),
                "status": m.STATUS_NAMES.get(self.remote_status, str(self.remote_status)),
                "error": self.remote_error,
            },
            "certificate": {
                "hash": self.cert_status[0].hex(),
                "status": m.STATUS_NAMES.get(self.cert_status[1], "?"),
                "error": self.cert_status[2],
            },
            "sequence_num": self.sequence_num,
            "messages": self.messages,
            "full_state_requests": self.full_state_requests,
            "last_seen_unix": self.last_seen,
            "apply_seconds": round(self.applied_unix - self.offered_unix, 4) if self.applied_unix else None,
            "capabilities": self.capabilities,
        }


def _health_dict(health: m.ComponentHealth) -> dict[str, Any]:
    return {
        "healthy": health.healthy,
        "status": health.status,
        "last_error": health.last_error,
        "components": {k: _health_dict(v) for k, v in health.component_health_map.items()},
    }


class FleetState:
    def __init__(self, *, heartbeat_interval: int = 30, csr_signer: CsrSigner | None = None) -> None:
        self.agents: dict[bytes, AgentState] = {}
        self.desired: dict[bytes, Desired] = {}
        self.cert_offers: dict[bytes, CertOffer] = {}
        self.heartbeat_interval = heartbeat_interval
        self.csr_signer = csr_signer
        self.bad_requests = 0

    # -- operator actions --------------------------------------------------

    def select(self, *, uid: str | None = None, labels: dict[str, str] | None = None) -> list[AgentState]:
        """Agents by instance UID (text or prefix) or by labels (all must match)."""
        found = []
        for agent in self.agents.values():
            if uid is not None and not agent.uid_text.startswith(uid):
                continue
            if labels and any(agent.labels.get(k) != v for k, v in labels.items()):
                continue
            found.append(agent)
        return found

    def push(self, agents: list[AgentState], files: dict[str, tuple[bytes, str]]) -> Desired:
        desired = Desired.of(files)
        for agent in agents:
            self.desired[agent.uid] = desired
        return desired

    def offer_certificate(self, uid: bytes, cert: bytes, key: bytes, ca: bytes) -> CertOffer:
        offer = CertOffer(cert, key, ca, hashlib.sha256(cert + key).digest())
        self.cert_offers[uid] = offer
        return offer

    # -- protocol ----------------------------------------------------------

    def handle(self, data: bytes, now: float | None = None) -> bytes:
        try:
            msg = m.AgentToServer.FromString(data)
        except DecodeError as exc:
            return self._error(b"", f"not an AgentToServer message: {exc}")
        if len(msg.instance_uid) != 16:
            return self._error(
                msg.instance_uid, f"instance_uid must be 16 bytes, got {len(msg.instance_uid)}"
            )
        agent = self.agents.get(msg.instance_uid)
        new = agent is None
        if agent is None:
            agent = self.agents[msg.instance_uid] = AgentState(msg.instance_uid)
        reply = m.ServerToAgent(instance_uid=msg.instance_uid, capabilities=SERVER_CAPABILITIES)
        gap = not new and msg.sequence_num != agent.sequence_num + 1
        if gap or (new and not msg.HasField("agent_description")):
            reply.flags |= m.REPORT_FULL_STATE
            agent.full_state_requests += 1
            agent.heartbeat_sent = False
        now = time.time() if now is None else now
        self._record(agent, msg, now)
        if msg.HasField("connection_settings_request"):
            error = self._take_csr(agent, msg.connection_settings_request.opamp.certificate_request.csr)
            if error:
                return self._error(msg.instance_uid, error)
        self._offer_config(agent, reply, now)
        self._offer_connection(agent, reply)
        return bytes(reply.SerializeToString())

    def _record(self, agent: AgentState, msg: m.AgentToServer, now: float) -> None:
        agent.sequence_num = msg.sequence_num
        agent.capabilities = msg.capabilities
        agent.last_seen = now
        agent.messages += 1
        if msg.HasField("agent_description"):
            desc = msg.agent_description
            agent.attributes = {
                **m.attributes_of(desc.identifying_attributes),
                **m.attributes_of(desc.non_identifying_attributes),
            }
        if msg.HasField("health"):
            agent.health = m.ComponentHealth.FromString(msg.health.SerializeToString())
        if msg.HasField("effective_config"):
            entries = msg.effective_config.config_map.config_map
            agent.effective_body = b"".join(entries[name].body for name in sorted(entries))
        if msg.HasField("remote_config_status"):
            status = msg.remote_config_status
            applied = (
                status.status == m.STATUS_APPLIED and status.last_remote_config_hash == agent.offered_hash
            )
            if applied and not agent.applied_unix:
                agent.applied_unix = now
            agent.remote_hash, agent.remote_status, agent.remote_error = (
                status.last_remote_config_hash,
                status.status,
                status.error_message,
            )
        if msg.HasField("connection_settings_status"):
            cs = msg.connection_settings_status
            agent.cert_status = (cs.last_connection_settings_hash, cs.status, cs.error_message)

    def _take_csr(self, agent: AgentState, csr: bytes) -> str:
        if self.csr_signer is None:
            return "this server has no CA to sign certificate requests (start it with --ca)"
        try:
            cert, ca = self.csr_signer(csr, agent.uid_text)
        except ValueError as exc:
            agent.csr_error = str(exc)
            return f"certificate request refused: {exc}"
        self.offer_certificate(agent.uid, cert, b"", ca)
        return ""

    def _offer_config(self, agent: AgentState, reply: m.ServerToAgent, now: float) -> None:
        desired = self.desired.get(agent.uid)
        if desired is None or not agent.capabilities & m.ACCEPTS_REMOTE_CONFIG:
            return
        settled = (m.STATUS_APPLIED, m.STATUS_FAILED, m.STATUS_APPLYING)
        if agent.remote_hash == desired.config_hash and agent.remote_status in settled:
            return
        if agent.offered_hash != desired.config_hash:  # the first offer of this config: start its clock
            agent.offered_hash, agent.offered_unix, agent.applied_unix = desired.config_hash, now, 0.0
        reply.remote_config.config_hash = desired.config_hash
        for name, (body, content_type) in desired.files.items():
            entry = reply.remote_config.config.config_map[name]
            entry.body, entry.content_type = body, content_type

    def _offer_connection(self, agent: AgentState, reply: m.ServerToAgent) -> None:
        if (
            not agent.capabilities & m.ACCEPTS_OPAMP_CONNECTION_SETTINGS
            and not agent.capabilities & m.REPORTS_HEARTBEAT
        ):
            return
        offer = self.cert_offers.get(agent.uid)
        pending = offer is not None and (
            agent.cert_status[0] != offer.offer_hash
            if agent.capabilities & m.REPORTS_CONNECTION_SETTINGS_STATUS
            else offer.sent == 0
        )
        if agent.heartbeat_sent and not pending:
            return
        settings = reply.connection_settings
        settings.opamp.heartbeat_interval_seconds = self.heartbeat_interval
        agent.heartbeat_sent = True
        if pending and offer is not None and agent.capabilities & m.ACCEPTS_OPAMP_CONNECTION_SETTINGS:
            settings.hash = offer.offer_hash
            cert = settings.opamp.certificate
            cert.cert, cert.private_key, cert.ca_cert = offer.cert, offer.key, offer.ca
            offer.sent += 1

    def _error(self, uid: bytes, message: str) -> bytes:
        self.bad_requests += 1
        reply = m.ServerToAgent(instance_uid=uid)
        reply.error_response.type = opamp_pb2.ServerErrorResponseType_BadRequest
        reply.error_response.error_message = message
        return bytes(reply.SerializeToString())
