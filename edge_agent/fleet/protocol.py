"""The OpAMP client's protocol state: reports in, bytes out; responses in, decisions out.

Theory of operation. The shell (``client.py``) asks :meth:`ClientCore.next_message`
for the bytes of the next ``AgentToServer`` whenever it polls or has news,
POSTs them, and feeds the result back: :meth:`ClientCore.on_response` with the
response body, or :meth:`ClientCore.on_failure` when no response came. This
module never does I/O and never imports trio.

Status compression (spec: "Agent Status Compression"): each status
sub-message (description, health, effective config, remote config status,
connection settings status) is sent only when it differs from what the
server has *acknowledged*, i.e. what was in a message the server answered.
A message that got no answer leaves the acknowledged state unchanged, so its
news rides along with the next message; a lost message therefore never
loses state. ``sequence_num`` grows by one for every message built. When the
server answers with the ``ReportFullState`` flag (it saw a sequence gap or
lost its state), everything is sent again.

Decisions out of a response (:class:`Outcome`): a new remote config offer
(only when its hash was not handled before: servers re-send the offer until
our status names its hash), a certificate offer, a new instance UID to adopt
and persist, a server-offered heartbeat interval, whether to send again at
once, and how long to back off when the server is unavailable. Connection
settings other than the certificate and heartbeat interval (endpoint,
headers, TLS, proxy) are not taken from the server: they come only from the
local config (see docs/fleet.md), and the outcome lists them as ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from edge_agent.fleet import messages as m

HANDLED_HASHES_KEPT = 256

# the status sub-messages of AgentToServer that status compression may omit
STATUS_FIELDS = (
    "agent_description",
    "health",
    "effective_config",
    "remote_config_status",
    "connection_settings_status",
)


@dataclass(frozen=True)
class Report:
    """What the agent is right now; the shell builds one before every message."""

    description: m.AgentDescription
    health: m.ComponentHealth | None = None
    effective_config: m.EffectiveConfig | None = None
    remote_config_status: m.RemoteConfigStatus | None = None
    connection_settings_status: m.ConnectionSettingsStatus | None = None
    csr: bytes = b""  # PEM CSR of the agent-initiated certificate flow, sent until answered

    def parts(self) -> dict[str, object]:
        return {
            "agent_description": self.description,
            "health": self.health,
            "effective_config": self.effective_config,
            "remote_config_status": self.remote_config_status,
            "connection_settings_status": self.connection_settings_status,
        }


@dataclass(frozen=True)
class RemoteConfigOffer:
    files: dict[str, tuple[bytes, str]]  # name -> (body, content type)
    config_hash: bytes


@dataclass(frozen=True)
class CertificateOffer:
    cert_pem: bytes
    key_pem: bytes  # empty when answering our CSR (the device holds the key)
    ca_pem: bytes
    offer_hash: bytes


@dataclass
class Outcome:
    """What to do after a response."""

    send_now: bool = False
    remote_config: RemoteConfigOffer | None = None
    certificate: CertificateOffer | None = None
    new_instance_uid: bytes | None = None
    retry_after: float | None = None  # set: the server is unavailable; wait (None inside: back off)
    unavailable: bool = False
    refused: str = ""  # the server refused our message (bad request): do not resend it as is
    ignored: list[str] = field(default_factory=list)


class ProtocolError(Exception):
    """The server's answer is not a usable ServerToAgent message."""


def _comparable(part: object) -> bytes | None:
    """Serialized form used to decide whether a sub-message changed (timestamps ignored for health)."""
    if part is None:
        return None
    if isinstance(part, m.ComponentHealth):
        part = _without_times(part)
    serialized: bytes = part.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
    return serialized


def _without_times(health: m.ComponentHealth) -> m.ComponentHealth:
    copy = m.ComponentHealth()
    copy.CopyFrom(health)
    stack = [copy]
    while stack:
        node = stack.pop()
        node.status_time_unix_nano = 0
        stack.extend(node.component_health_map.values())
    return copy


class ClientCore:
    def __init__(self, instance_uid: bytes, capabilities: int, *, default_interval: float = 30.0) -> None:
        if len(instance_uid) != 16:
            raise ValueError("instance_uid must be 16 bytes")
        self.instance_uid = instance_uid
        self.capabilities = capabilities | m.REPORTS_STATUS
        self.default_interval = default_interval
        self.sequence_num = 0
        self.server_capabilities = 0
        self.heartbeat_interval: float | None = None  # offered by the server
        self.messages_sent = 0
        self.responses = 0
        self._acked: dict[str, bytes | None] = {}
        self._in_flight: dict[str, bytes | None] | None = None
        self._handled_config_hashes: dict[bytes, None] = {}  # insertion-ordered, bounded
        self._handled_offer_hash: bytes | None = None

    # -- sending -----------------------------------------------------------

    def poll_interval(self) -> float:
        return self.heartbeat_interval or self.default_interval

    def has_news(self, report: Report) -> bool:
        """Whether ``report`` holds anything the server has not acknowledged."""
        if report.csr and self._acked.get("csr") != report.csr:
            return True
        return any(self._acked.get(k) != _comparable(v) for k, v in report.parts().items() if v is not None)

    def next_message(self, report: Report) -> bytes:
        """The next AgentToServer: status parts only where changed, ``sequence_num`` + 1."""
        msg = m.AgentToServer(
            instance_uid=self.instance_uid, sequence_num=self.sequence_num, capabilities=self.capabilities
        )
        sent: dict[str, bytes | None] = {}
        for name, part in report.parts().items():
            key = _comparable(part)
            if part is not None and self._acked.get(name) != key:
                getattr(msg, name).CopyFrom(part)
                sent[name] = key
        # a CSR is sent once; the server answers it with a certificate offer, possibly polls later
        if report.csr and self._acked.get("csr") != report.csr:
            msg.connection_settings_request.opamp.certificate_request.csr = report.csr
            sent["csr"] = report.csr
        self._in_flight = sent
        self.sequence_num += 1
        self.messages_sent += 1
        data: bytes = msg.SerializeToString()
        return data

    def on_failure(self) -> None:
        """No usable response: the server may or may not have seen the last message.

        Its parts are forgotten as acknowledged, so they are sent again even if
        the agent's state goes back to what was acknowledged before (the server
        may hold the lost message's values by now).
        """
        for name in self._in_flight or ():
            self._acked.pop(name, None)
        self._in_flight = None

    # -- receiving ---------------------------------------------------------

    def mark_config_handled(self, config_hash: bytes) -> None:
        """A config with this hash is being or was handled (applied, refused, failed): not taken again."""
        self._handled_config_hashes[config_hash] = None
        while len(self._handled_config_hashes) > HANDLED_HASHES_KEPT:
            del self._handled_config_hashes[next(iter(self._handled_config_hashes))]

    def on_response(self, body: bytes) -> Outcome:
        try:
            msg = m.ServerToAgent.FromString(body)
        except DecodeError as exc:
            self.on_failure()
            raise ProtocolError(f"the server's answer is not a ServerToAgent message: {exc}") from None
        if msg.instance_uid and msg.instance_uid != self.instance_uid:
            self.on_failure()
            theirs = m.uid_text(msg.instance_uid) if len(msg.instance_uid) == 16 else repr(msg.instance_uid)
            raise ProtocolError(
                f"the server answered for instance {theirs}, not ours ({m.uid_text(self.instance_uid)})"
            )
        self.responses += 1
        if msg.capabilities:
            self.server_capabilities = msg.capabilities
        if msg.HasField("error_response"):
            return self._on_error(msg.error_response)
        self._acknowledge()
        outcome = Outcome()
        if msg.flags & m.REPORT_FULL_STATE:
            self._acked.clear()
            outcome.send_now = True
        self._take_remote_config(msg, outcome)
        self._take_connection_settings(msg, outcome)
        if msg.HasField("agent_identification") and msg.agent_identification.new_instance_uid:
            self._adopt_uid(msg.agent_identification.new_instance_uid, outcome)
        if msg.HasField("command"):
            outcome.ignored.append("command (edge-agent does not accept remote restarts)")
        return outcome

    def _acknowledge(self) -> None:
        if self._in_flight is not None:
            self._acked.update(self._in_flight)
            self._in_flight = None

    def _on_error(self, error: m.ServerErrorResponse) -> Outcome:
        if error.type == m.ERROR_UNAVAILABLE:
            self.on_failure()  # not processed: resend the news later
            retry = error.retry_info.retry_after_nanoseconds / 1e9 if error.HasField("retry_info") else None
            return Outcome(unavailable=True, retry_after=retry)
        # bad request / unknown: the spec says not to retry this message; count it delivered
        self._acknowledge()
        kind = "bad request" if error.type == m.ERROR_BAD_REQUEST else "error"
        return Outcome(
            refused=f"the server refused our report ({kind}): {error.error_message or 'no reason given'}"
        )

    def _take_remote_config(self, msg: m.ServerToAgent, outcome: Outcome) -> None:
        if not msg.HasField("remote_config"):
            return
        remote = msg.remote_config
        if not remote.config_hash or remote.config_hash in self._handled_config_hashes:
            return
        files = {name: (f.body, f.content_type) for name, f in remote.config.config_map.items()}
        outcome.remote_config = RemoteConfigOffer(files, remote.config_hash)

    def _take_connection_settings(self, msg: m.ServerToAgent, outcome: Outcome) -> None:
        if not msg.HasField("connection_settings"):
            return
        offers = msg.connection_settings
        for name in ("own_metrics", "own_traces", "own_logs"):
            if offers.HasField(name):
                outcome.ignored.append(f"connection_settings.{name} (not supported)")
        if offers.other_connections:
            outcome.ignored.append("connection_settings.other_connections (not supported)")
        if not offers.HasField("opamp"):
            return
        opamp = offers.opamp
        if opamp.heartbeat_interval_seconds:
            self.heartbeat_interval = float(opamp.heartbeat_interval_seconds)
        for name in ("destination_endpoint", "headers", "tls", "proxy"):
            if (name == "destination_endpoint" and opamp.destination_endpoint) or (
                name != "destination_endpoint" and opamp.HasField(name)
            ):
                outcome.ignored.append(f"connection_settings.opamp.{name} (taken only from the local config)")
        if opamp.HasField("certificate") and offers.hash != self._handled_offer_hash:
            self._handled_offer_hash = offers.hash
            cert = opamp.certificate
            outcome.certificate = CertificateOffer(cert.cert, cert.private_key, cert.ca_cert, offers.hash)

    def _adopt_uid(self, uid: bytes, outcome: Outcome) -> None:
        if len(uid) != 16:
            outcome.ignored.append(f"agent_identification.new_instance_uid ({len(uid)} bytes, not 16)")
            return
        if uid != self.instance_uid:
            self.instance_uid = uid
            self._acked.clear()  # the server knows nothing about the new identity yet
            outcome.new_instance_uid = uid
            outcome.send_now = True
