"""The resource every record carries: who and where this agent is.

Attribute names follow the OpenTelemetry semantic conventions (``host.*``,
``os.*``, ``service.*``). ``service.instance.id`` is a device id generated
once and persisted in the agent's state file, so it survives restarts and
upgrades (and is not the machine-id, which some images clone).
"""

from __future__ import annotations

import platform
import socket
from pathlib import Path

from edge_agent._version import __version__

# platform.machine() -> semantic-convention host.arch values
_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm32",
    "armv6l": "arm32",
    "i386": "x86",
    "i686": "x86",
    "ppc64le": "ppc64",
    "s390x": "s390x",
}


def host_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    return _ARCH.get(machine.lower(), machine.lower())


def os_description(os_release: Path = Path("/etc/os-release")) -> str:
    """``PRETTY_NAME`` from os-release plus the kernel, e.g. ``Debian GNU/Linux 12 (bookworm) 6.1.0``."""
    pretty = ""
    try:
        for line in os_release.read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    kernel = platform.release()
    return f"{pretty} ({kernel})" if pretty else f"{platform.system()} {kernel}"


def new_device_id() -> str:
    import uuid  # only on first start: the id is persisted

    return str(uuid.uuid4())


def host_resource(device_id: str, extra: dict[str, str]) -> dict[str, str]:
    attributes = {
        "service.name": "edge-agent",
        "service.version": __version__,
        "service.instance.id": device_id,
        "host.name": socket.gethostname(),
        "host.arch": host_arch(),
        "os.type": platform.system().lower(),
        "os.description": os_description(),
    }
    attributes.update(extra)
    return attributes
