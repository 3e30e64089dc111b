"""Arguments of ``edge-agent install-service``, importable without the installer.

``edge-agent --help`` and ``edge-agent version`` build the whole parser; the
installer itself imports the config loader and the unit renderer, which a
start-up that only prints a version should not pay for.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("/"), help="install into this directory tree")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    parser.add_argument("--user", default="edge-agent", help="service user and group (created if missing)")
    parser.add_argument("--profile", default="", help="device profile for budgets and the starter config")
    parser.add_argument(
        "--exec", dest="exec_path", help="edge-agent executable for ExecStart= (default: found)"
    )
    parser.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also load this file as credential NAME (config value credential:NAME)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value for the unit, e.g. --set service.memory_max=128MiB",
    )
    parser.add_argument("--systemd-version", type=int, help="target systemd version (default: detected)")
