"""Development PKI for edge-agent: a CA, server and client certificates for mutual TLS.

Examples::

    python tools/pki.py init /tmp/pki                  # CA, server (localhost, 127.0.0.1, ::1), device-1
    python tools/pki.py client /tmp/pki device-2       # another client certificate
    python tools/pki.py client /tmp/pki old --expired  # an expired one, to test refusals
    python tools/pki.py server /tmp/pki gw.example 10.0.0.5 --name gw
    python tools/pki.py pin /tmp/pki/server/server.pem # value for exporter.tls.pinned_spki_sha256

Not for production: the CA key sits unencrypted next to the certificates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.pkilib import DevPki, Issued, expired, make_client, make_server, spki_sha256


def _load(root: Path) -> DevPki:
    ca_dir = root / "ca"
    try:
        ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
        server = x509.load_pem_x509_certificate((root / "server" / "server.pem").read_bytes())
        server_key = serialization.load_pem_private_key(
            (root / "server" / "server.key").read_bytes(), password=None
        )
    except FileNotFoundError as exc:
        sys.exit(f"pki.py: {exc.filename} is missing; run 'python tools/pki.py init {root}' first")
    return DevPki(root, Issued(ca_cert, ca_key), Issued(server, server_key))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/pki.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a CA, a server certificate and client 'device-1'")
    init.add_argument("root", type=Path)
    init.add_argument("--rsa", action="store_true", help="RSA 2048 keys instead of EC P-256")
    client = sub.add_parser("client", help="issue a client certificate")
    client.add_argument("root", type=Path)
    client.add_argument("name")
    client.add_argument("--days", type=float, default=365)
    client.add_argument("--expired", action="store_true", help="issue one that expired yesterday")
    server = sub.add_parser("server", help="issue another server certificate")
    server.add_argument("root", type=Path)
    server.add_argument("names", nargs="+", help="DNS names / IP addresses (first = CN)")
    server.add_argument("--name", default="", help="file name under server/ (default: first name)")
    pin = sub.add_parser("pin", help="print the SPKI SHA-256 pin of a certificate")
    pin.add_argument("cert", type=Path)
    args = parser.parse_args(argv)

    if args.command == "init":
        pki = DevPki.create(args.root, key_kind="rsa" if args.rsa else "ec")
        pki.add_client("device-1")
        print(f"wrote a dev PKI under {args.root}; agent config:\n")
        print(pki.config_snippet())
        return 0
    if args.command == "pin":
        print(spki_sha256(x509.load_pem_x509_certificate(args.cert.read_bytes())))
        return 0
    pki = _load(args.root)
    if args.command == "client":
        files = pki.client_paths(args.name)
        if args.expired:
            issued = expired(pki.ca, args.name)
        else:
            issued = make_client(pki.ca, args.name, days=args.days)
        issued.write(files.cert, files.key)
        print(f"wrote {files.cert} and {files.key}")
        return 0
    issued = make_server(pki.ca, args.names)
    cert, key = pki.write_server(issued, args.name or args.names[0])
    print(f"wrote {cert} and {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
