"""The fleet over mutual TLS with a real agent: pushes, certificate rotation while the exporter delivers.

A run-time dev PKI (tools/pkilib.py): the fleet server and a counting OTLP
sink both require client certificates signed by its CA. The agent's exporter
and fleet client share one client certificate (``[exporter.tls]``). Records
are counted at the sink across each rotation, and every TLS connection's
client certificate is recorded at both servers, so the tests see which
certificate is in use, not only that something was delivered.
"""

from __future__ import annotations

import shutil
import signal
import ssl
from pathlib import Path
from typing import Any

import pytest
import trio

from edge_agent.fleet import messages as m
from edge_agent.httpserver import HttpServer
from tests.e2e.fleet_peers import FleetRig, pushed_config
from tests.tlshelpers import make_pki, server_context
from tools.fleetlib import CaSigner, peer_common_name, server_ssl_context
from tools.pkilib import DevPki, make_ca

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class MtlsRig:
    def __init__(self, tmp_path: Path, nursery: trio.Nursery) -> None:
        self.pki: DevPki = make_pki(tmp_path / "pki")
        self.ca = CaSigner.from_files(self.pki.ca_file, self.pki.root / "ca" / "ca.key")
        context = server_ssl_context(self.pki.server_cert, self.pki.server_key, self.pki.ca_file)
        self.rig = FleetRig(tmp_path, nursery, ssl_context=context)
        self.rig.server.ca = self.ca
        self.rig.server.state.csr_signer = self.ca.sign_csr
        self.nursery = nursery
        self.sink_cns: list[str] = []
        certs = tmp_path / "certs"  # the agent's own, writable copies
        certs.mkdir()
        client = self.pki.client_paths("device-1")
        self.cert, self.key = certs / "client.pem", certs / "client.key"
        shutil.copy(client.cert, self.cert)
        shutil.copy(client.key, self.key)
        self.key.chmod(0o600)

    async def start(self) -> None:
        await self.rig.start_server()
        self.sink_port = await self.nursery.start(self._serve_sink, server_context(self.pki))

    async def _serve_sink(
        self, context: ssl.SSLContext, *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        server = HttpServer(self.rig.sink.handle, self.rig.sink.limits, name="mtls-sink")
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])

        async def handle(stream: trio.abc.Stream) -> None:
            tls = trio.SSLStream(stream, context, server_side=True)
            try:
                await tls.do_handshake()
                self.sink_cns.append(peer_common_name(tls))
                await server.serve_stream(tls)
            except trio.BrokenResourceError:
                return

        await trio.serve_listeners(handle, listeners)

    def write_config(self, fleet_extra: str = "") -> None:
        exporter = (
            f'endpoint = "https://localhost:{self.sink_port}"\n'
            f'tls.ca_file = "{self.pki.ca_file}"\ntls.cert_file = "{self.cert}"\ntls.key_file = "{self.key}"'
        )
        endpoint = self.rig.server.endpoint.replace("127.0.0.1", "localhost")
        self.rig.write_config(exporter=exporter, fleet_endpoint=endpoint, admin=True, extra=fleet_extra)

    def agent_uid(self) -> bytes:
        agent = self.rig.agent()
        assert agent is not None
        return agent.uid

    async def wait_cert_status(self, status: int, offer_hash: bytes) -> Any:
        await self.rig.server.wait_until(
            lambda s: (a := self.rig.agent()) is not None and a.cert_status[:2] == (offer_hash, status)
        )
        return self.rig.agent()

    async def wait_base_records(self, more: int) -> None:
        await self.rig.wait_tag("local", more)


def _seq_gaps(rig: FleetRig) -> list[int]:
    from tests.agent_harness import seqs_by_instance

    seqs = sorted(set(seqs_by_instance(rig.sink)["base"]))
    return [s for s in range(seqs[0], seqs[-1] + 1) if s not in set(seqs)]


@pytest.fixture
async def mtls(tmp_path: Path, nursery: trio.Nursery) -> MtlsRig:
    rig = MtlsRig(tmp_path, nursery)
    await rig.start()
    return rig


async def test_push_applied_over_mtls(mtls: MtlsRig) -> None:
    """Our client and server over mutual TLS: the agent's certificate is verified, a push is APPLIED."""
    mtls.write_config()
    agent = await mtls.rig.start_agent()
    with trio.fail_after(60):
        await mtls.rig.wait_reported()
        await mtls.rig.wait_status("APPLIED", mtls.rig.push(pushed_config("v1"), version=1))
        await mtls.rig.wait_tag("v1", 10)
    assert set(mtls.rig.server.client_cns) == {"device-1"}
    assert set(mtls.sink_cns) == {"device-1"}
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0


async def test_offered_certificate_rotates_while_the_exporter_delivers(mtls: MtlsRig) -> None:
    """A server-issued certificate is tested live, swapped in, used by both connections; no record is lost."""
    mtls.write_config()
    agent = await mtls.rig.start_agent()
    with trio.fail_after(60):
        await mtls.rig.wait_reported()
        await mtls.wait_base_records(20)
        uid = mtls.agent_uid()
        cert, key, ca = mtls.ca.issue("device-1-rotated")
        offer = mtls.rig.server.state.offer_certificate(uid, cert, key, ca)
        await mtls.wait_cert_status(m.STATUS_APPLIED, offer.offer_hash)
        before = len(mtls.sink_cns)
        await mtls.wait_base_records(20)
        while "device-1-rotated" not in mtls.sink_cns[before:]:
            await mtls.wait_base_records(5)
    assert mtls.cert.read_bytes() == cert and mtls.key.read_bytes() == key
    assert oct(mtls.key.stat().st_mode & 0o777) == "0o600"
    assert "device-1-rotated" in mtls.rig.server.client_cns  # the probe and later polls
    assert _seq_gaps(mtls.rig) == []  # every record of the base instance arrived across the rotation
    assert "fleet: rotated the client certificate" in " ".join(agent.messages())
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0


async def test_untrusted_certificate_offer_is_refused_and_old_kept(mtls: MtlsRig) -> None:
    """A certificate from a CA the servers do not trust fails its live test: FAILED, old files stay."""
    mtls.write_config()
    agent = await mtls.rig.start_agent()
    old = (mtls.cert.read_bytes(), mtls.key.read_bytes())
    rogue_ca = make_ca("rogue CA")
    rogue = CaSigner(rogue_ca.cert_pem, rogue_ca.key_pem)
    with trio.fail_after(60):
        await mtls.rig.wait_reported()
        cert, key, ca = rogue.issue("device-1")
        offer = mtls.rig.server.state.offer_certificate(mtls.agent_uid(), cert, key, ca)
        state = await mtls.wait_cert_status(m.STATUS_FAILED, offer.offer_hash)
        await mtls.wait_base_records(20)
    assert "refused the new certificate" in state.cert_status[2]
    assert (mtls.cert.read_bytes(), mtls.key.read_bytes()) == old
    assert not Path(str(mtls.cert) + ".new").exists()
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0


async def test_agent_initiated_csr_is_signed_and_rotated_in(mtls: MtlsRig) -> None:
    """With request_certificate, the agent sends a CSR for its instance UID and rotates to the signed cert."""
    mtls.write_config(fleet_extra='request_certificate = true\nrenew_before = "3650d"')  # renew right away
    agent = await mtls.rig.start_agent()
    with trio.fail_after(60):
        await mtls.rig.wait_reported()
        uid_text = m.uid_text(mtls.agent_uid())
        await mtls.rig.server.wait_until(lambda s: mtls.agent_uid() in s.cert_offers)
        offer = mtls.rig.server.state.cert_offers[mtls.agent_uid()]
        assert offer.key == b""  # the key never left the device
        await mtls.wait_cert_status(m.STATUS_APPLIED, offer.offer_hash)
        before = len(mtls.sink_cns)
        while uid_text not in mtls.sink_cns[before:]:
            await mtls.wait_base_records(5)
    assert mtls.cert.read_bytes() == offer.cert
    assert uid_text in mtls.rig.server.client_cns
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0
