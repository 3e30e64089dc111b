"""edge-agent fleet server: a small OpAMP server, config signing and certificate offers.

Examples::

    python tools/fleet_server.py keygen /etc/edge-fleet/fleet          # fleet.key (0600) + fleet.pub
    python tools/fleet_server.py sign --key fleet.key agent.toml       # writes agent.toml.sig
    python tools/fleet_server.py serve --listen 0.0.0.0:4320 \\
        --tls-cert server.pem --tls-key server.key --client-ca ca.pem \\
        --ca ca.pem --ca-key ca.key                                    # mTLS; signs device CSRs
    python tools/fleet_server.py serve --pki /tmp/pki                  # the same, from tools/pki.py init
    python tools/fleet_server.py list                                   # agents, health, config hash
    python tools/fleet_server.py push --label ring=canary agent.toml    # needs agent.toml.sig next to it
    python tools/fleet_server.py offer-cert --agent 0190c2a4            # issue + offer a new client cert

The operator commands (list, push, offer-cert) talk to the server's
operator API on loopback (``--admin``, default 127.0.0.1:4321).
Not a production control plane: agent state lives in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_agent.fleet.signing import CONFIG_NAME, SIGNATURE_NAME, generate_keypair, sign_config

DEFAULT_ADMIN = "127.0.0.1:4321"


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def cmd_keygen(args: argparse.Namespace) -> int:
    private, public = generate_keypair()
    prefix = Path(args.prefix)
    _write(prefix.with_suffix(".key"), private, 0o600)
    _write(prefix.with_suffix(".pub"), public, 0o644)
    print(
        f"wrote {prefix.with_suffix('.key')} (keep it secret) and {prefix.with_suffix('.pub')} (fleet.public_key_file)"
    )
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    config = Path(args.config)
    sig = sign_config(Path(args.key).read_bytes(), config.read_bytes(), version=args.version)
    out = Path(args.output) if args.output else config.with_name(config.name + ".sig")
    out.write_bytes(sig)
    print(f"wrote {out}")
    return 0


def _api(admin: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{admin}{path}", data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"fleet_server: {json.loads(exc.read()).get('error', exc)}") from None
    except OSError as exc:
        raise SystemExit(f"fleet_server: cannot reach the operator API at {admin}: {exc}") from None


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    if not args.agent and not args.label:
        raise SystemExit("fleet_server: choose agents with --agent UID or --label key=value")
    labels = dict(item.split("=", 1) for item in args.label or [])
    return {"uid": args.agent, "labels": labels or None}


def cmd_list(args: argparse.Namespace) -> int:
    agents = _api(args.admin, "/api/agents")
    if args.json:
        print(json.dumps(agents, indent=2))
        return 0
    print(f"{'instance':38} {'host':16} {'health':9} {'config sha256':14} {'remote config':28} labels")
    for a in agents:
        health = {True: "healthy", False: "UNHEALTHY", None: "?"}[a["healthy"]]
        remote = a["remote_config"]
        status = f"{remote['status']} {remote['hash'][:8]}" if remote["hash"] else "-"
        labels = ",".join(f"{k}={v}" for k, v in a["labels"].items())
        sha = (a["effective_config_sha256"] or "-")[:12]
        print(f"{a['instance_uid']:38} {a['name'] or '-':16} {health:9} {sha:14} {status:28} {labels}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    config = Path(args.config)
    sig = Path(args.sig) if args.sig else config.with_name(config.name + ".sig")
    if not sig.is_file():
        raise SystemExit(
            f"fleet_server: {sig} not found; sign first: fleet_server.py sign --key fleet.key {config}"
        )
    files = {CONFIG_NAME: config.read_text(), SIGNATURE_NAME: sig.read_text()}
    result = _api(args.admin, "/api/push", {**_selection(args), "files": files})
    print(f"config {result['config_hash'][:12]} pushed to {len(result['agents'])} agent(s)")
    return 0


def cmd_offer_cert(args: argparse.Namespace) -> int:
    result = _api(args.admin, "/api/offer-certificate", _selection(args))
    print(f"offered {len(result['offers'])} certificate(s)")
    return 0


def _apply_pki(args: argparse.Namespace) -> None:
    """``--pki DIR`` (a tools/pki.py directory): server cert, client CA and CSR-signing CA from it."""
    if not args.pki:
        return
    root = Path(args.pki)
    args.tls_cert = args.tls_cert or str(root / "server" / "server.pem")
    args.tls_key = args.tls_key or str(root / "server" / "server.key")
    args.client_ca = args.client_ca or str(root / "ca" / "ca.pem")
    args.ca = args.ca or str(root / "ca" / "ca.pem")
    args.ca_key = args.ca_key or str(root / "ca" / "ca.key")


def cmd_serve(args: argparse.Namespace) -> int:
    import trio

    from tools.fleetlib import CaSigner, FleetServer, server_ssl_context
    from tools.fleetstate import FleetState

    _apply_pki(args)
    context = None
    if args.tls_cert:
        context = server_ssl_context(
            Path(args.tls_cert), Path(args.tls_key), Path(args.client_ca) if args.client_ca else None
        )
    ca = CaSigner.from_files(Path(args.ca), Path(args.ca_key)) if args.ca else None
    server = FleetServer(FleetState(heartbeat_interval=args.heartbeat), ssl_context=context, ca=ca)
    host, _, port = args.listen.rpartition(":")
    admin_host, _, admin_port = args.admin.rpartition(":")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, host, int(port))
            await nursery.start(server.serve_admin, admin_host, int(admin_port))
            print(f"OpAMP on {server.endpoint}; operator API on http://{args.admin}", flush=True)

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet_server.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="make an Ed25519 fleet key pair")
    p.add_argument("prefix", help="writes PREFIX.key and PREFIX.pub")
    p.set_defaults(func=cmd_keygen)
    p = sub.add_parser("sign", help="sign an agent.toml for pushing")
    p.add_argument("--key", required=True, help="the fleet private key (PEM)")
    p.add_argument("--version", type=int, help="signed version (default: Unix time now); must grow")
    p.add_argument("--output", "-o", help="signature file (default: CONFIG.sig)")
    p.add_argument("config")
    p.set_defaults(func=cmd_sign)
    p = sub.add_parser("serve", help="run the OpAMP server and its operator API")
    p.add_argument("--listen", default="127.0.0.1:4320")
    p.add_argument("--admin", default=DEFAULT_ADMIN, help="operator API address (keep it on loopback)")
    p.add_argument("--tls-cert", help="server certificate (enables TLS)")
    p.add_argument("--tls-key")
    p.add_argument("--client-ca", help="require agent certificates signed by this CA (mutual TLS)")
    p.add_argument("--ca", help="CA certificate to sign agent CSRs and issue certificates with")
    p.add_argument("--ca-key")
    p.add_argument("--heartbeat", type=int, default=30, help="heartbeat (poll) interval offered to agents, s")
    p.add_argument(
        "--pki", help="a tools/pki.py directory: mTLS with its server cert and CA, CSRs signed by it"
    )
    p.set_defaults(func=cmd_serve)
    for name, func, helptext in (
        ("list", cmd_list, "list agents with health and effective-config hash"),
        ("push", cmd_push, "push a signed config to one agent or a label group"),
        ("offer-cert", cmd_offer_cert, "issue a new client certificate and offer it"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--admin", default=DEFAULT_ADMIN)
        if name == "list":
            p.add_argument("--json", action="store_true")
        else:
            p.add_argument("--agent", help="instance UID (or a prefix)")
            p.add_argument("--label", action="append", metavar="KEY=VALUE", help="all agents with this label")
        if name == "push":
            p.add_argument("config")
            p.add_argument("--sig", help="signature file (default: CONFIG.sig)")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
