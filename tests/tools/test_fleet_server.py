"""The fleet server command line and its operator API: keygen, sign, list, push, certificates."""

from __future__ import annotations

import functools
import stat
from pathlib import Path

import pytest
import trio

from edge_agent.fleet import messages as m
from edge_agent.fleet.signing import verify_config
from tools import fleet_server
from tools.fleetlib import CaSigner, FleetServer
from tools.pkilib import make_ca

UID = bytes(range(16))


def _ca() -> CaSigner:
    ca = make_ca("test CA", days=10)
    return CaSigner(ca.cert_pem, ca.key_pem)


def _csr(cn: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_keygen_and_sign_make_a_verifiable_config(tmp_path: Path) -> None:
    """keygen writes a private key (0600) and public key; sign writes agent.toml.sig that verifies."""
    assert fleet_server.main(["keygen", str(tmp_path / "fleet")]) == 0
    assert stat.S_IMODE((tmp_path / "fleet.key").stat().st_mode) == 0o600
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nlog_level = "debug"\n')
    assert (
        fleet_server.main(["sign", "--key", str(tmp_path / "fleet.key"), "--version", "12", str(config)]) == 0
    )
    info = verify_config(
        (tmp_path / "fleet.pub").read_bytes(), config.read_bytes(), (tmp_path / "agent.toml.sig").read_bytes()
    )
    assert info.version == 12


def test_ca_signs_only_csrs_for_the_sender() -> None:
    """A CSR whose CN is not the sender's instance UID, or garbage, is refused."""
    ca = _ca()
    cert, ca_pem = ca.sign_csr(_csr(m.uid_text(UID)), m.uid_text(UID))
    assert b"BEGIN CERTIFICATE" in cert and ca_pem == ca.ca_pem
    with pytest.raises(ValueError, match="is not the sender's instance_uid"):
        ca.sign_csr(_csr("someone-else"), m.uid_text(UID))
    with pytest.raises(ValueError, match="not a PEM certificate request"):
        ca.sign_csr(b"nope", m.uid_text(UID))


async def test_list_push_and_offer_through_the_operator_api(
    tmp_path: Path, nursery: trio.Nursery, capsys: pytest.CaptureFixture[str]
) -> None:
    """list shows a reporting agent; push by label sets its desired config; offer-cert queues a cert."""
    server = FleetServer(ca=_ca())
    await nursery.start(server.serve)
    await nursery.start(server.serve_admin)
    assert server.admin_address is not None
    admin = f"{server.admin_address[0]}:{server.admin_address[1]}"
    hello = m.AgentToServer(instance_uid=UID, capabilities=m.ACCEPTS_REMOTE_CONFIG | m.REPORTS_STATUS)
    hello.agent_description.non_identifying_attributes.extend(
        m.key_values({"host.name": "pi-7", "fleet.label.ring": "canary"})
    )
    server.state.handle(hello.SerializeToString())
    run = functools.partial(trio.to_thread.run_sync)
    assert await run(fleet_server.main, ["list", "--admin", admin]) == 0
    assert "pi-7" in capsys.readouterr().out
    fleet_server.main(["keygen", str(tmp_path / "fleet")])
    config = tmp_path / "agent.toml"
    config.write_text("[agent]\nlog_level = 'debug'\n")
    fleet_server.main(["sign", "--key", str(tmp_path / "fleet.key"), str(config)])
    assert (
        await run(fleet_server.main, ["push", "--admin", admin, "--label", "ring=canary", str(config)]) == 0
    )
    assert "pushed to 1 agent(s)" in capsys.readouterr().out
    assert server.state.desired[UID].files["agent.toml"][0] == config.read_bytes()
    assert await run(fleet_server.main, ["offer-cert", "--admin", admin, "--agent", m.uid_text(UID)[:8]]) == 0
    assert server.state.cert_offers[UID].key.startswith(b"-----BEGIN PRIVATE KEY")
    with pytest.raises(SystemExit, match="no agent matches"):
        await run(fleet_server.main, ["push", "--admin", admin, "--label", "ring=none", str(config)])


def _post(port: int, context: object, body: bytes) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)  # type: ignore[arg-type]
    try:
        conn.request("POST", "/v1/opamp", body=body, headers={"Content-Type": "application/x-protobuf"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serve_with_a_dev_pki_requires_client_certificates(tmp_path: Path) -> None:
    """`serve --pki DIR` speaks OpAMP over mutual TLS: a device certificate gets an answer, none gets nothing."""
    import http.client
    import socket
    import ssl
    import subprocess
    import sys

    from tools.pkilib import DevPki

    pki = DevPki.create(tmp_path / "pki")
    client = pki.add_client("device-9")
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    argv = [sys.executable, str(Path(fleet_server.__file__)), "serve", "--pki", str(pki.root),
            "--listen", f"127.0.0.1:{ports[0]}", "--admin", f"127.0.0.1:{ports[1]}"]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None and "OpAMP on https://" in server.stdout.readline()
            hello = m.AgentToServer(instance_uid=UID, capabilities=m.REPORTS_STATUS).SerializeToString()
            device = ssl.create_default_context(cafile=str(pki.ca_file))
            device.load_cert_chain(str(client.cert), str(client.key))
            status, body = _post(ports[0], device, hello)
            assert status == 200 and m.ServerToAgent.FromString(body).instance_uid == UID
            anonymous = ssl.create_default_context(cafile=str(pki.ca_file))
            with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                _post(ports[0], anonymous, hello)
        finally:
            server.terminate()
