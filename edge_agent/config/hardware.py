"""Which device profile fits this machine: ``edge-agent check-config --suggest-profile``.

:func:`gather_facts` reads what the kernel says about the hardware (blocking
file reads; ``root`` lets tests point it at a fake tree): the device-tree
model (ARM boards), the DMI product name (x86), CPU count and architecture,
memory size, and whether a cellular modem or a battery is present.
:func:`suggest_profile` is a pure decision table over those facts; the
first rule that matches wins and says why. It only suggests: the operator
writes ``profile = "..."`` into the config.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class Facts:
    model: str = ""  # "Raspberry Pi 4 Model B Rev 1.4", "NVIDIA Jetson Orin Nano ..."
    arch: str = ""  # platform.machine(): aarch64, armv7l, x86_64
    cpus: int = 0
    memory_bytes: int = 0
    modem: bool = False
    battery: bool = False
    tegra: bool = False  # /etc/nv_tegra_release: an NVIDIA Jetson (L4T)

    def describe(self) -> str:
        parts = [self.model or "unknown model", self.arch or "?", f"{self.cpus} CPU(s)"]
        parts.append(f"{self.memory_bytes // MiB} MiB RAM" if self.memory_bytes else "RAM unknown")
        if self.modem:
            parts.append("cellular modem")
        if self.battery:
            parts.append("battery")
        return ", ".join(parts)


@dataclass(frozen=True)
class Suggestion:
    profile: str | None
    reasons: tuple[str, ...] = field(default=())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").replace("\0", "").strip()
    except OSError:
        return ""


def _memory_bytes(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _has_modem(root: Path) -> bool:
    patterns = ("dev/cdc-wdm*", "dev/wwan*", "sys/class/net/wwan*", "sys/class/wwan/*")
    return any(any(root.glob(pattern)) for pattern in patterns)


def _has_battery(root: Path) -> bool:
    return any(_read(p / "type") == "Battery" for p in root.glob("sys/class/power_supply/*"))


def gather_facts(root: Path = Path("/"), arch: str | None = None) -> Facts:
    """What this machine is (blocking; missing files just mean "unknown")."""
    model = (
        _read(root / "proc/device-tree/model")
        or _read(root / "sys/firmware/devicetree/base/model")
        or _read(root / "sys/class/dmi/id/product_name")
    )
    cpuinfo = _read(root / "proc/cpuinfo")
    cpus = sum(1 for line in cpuinfo.splitlines() if line.startswith("processor"))
    return Facts(
        model=model,
        arch=arch if arch is not None else platform.machine(),
        cpus=cpus,
        memory_bytes=_memory_bytes(_read(root / "proc/meminfo")),
        modem=_has_modem(root),
        battery=_has_battery(root),
        tegra=(root / "etc/nv_tegra_release").is_file(),
    )


def suggest_profile(facts: Facts) -> Suggestion:
    """The first matching rule of the table below, with the reasons it matched."""
    model, mem = facts.model.lower(), facts.memory_bytes
    if facts.tegra or "jetson" in model:
        return Suggestion("jetson-orin-nano", (f"NVIDIA Jetson ({facts.model or 'L4T release file'})",))
    if facts.modem and (facts.battery or (mem and mem <= 512 * MiB)):
        why = "a battery" if facts.battery else f"{mem // MiB} MiB RAM"
        return Suggestion(
            "cellular-tracker", ("cellular modem present", f"and {why}: metered, power-limited")
        )
    if "raspberry pi zero 2" in model:
        return Suggestion("pi-zero-2w", (f"model: {facts.model}",))
    if any(
        name in model for name in ("raspberry pi 4", "raspberry pi 400", "compute module 4", "raspberry pi 5")
    ):
        note = " (the closest profile for a Pi 5)" if "raspberry pi 5" in model else ""
        return Suggestion("raspberry-pi-4", (f"model: {facts.model}{note}",))
    if mem and mem <= 320 * MiB:
        why = f"{mem // MiB} MiB RAM" + (f" on {facts.arch}" if facts.arch else "")
        return Suggestion("industrial-gateway-armv7-256mb", (why, "the profile for 256 MiB devices"))
    if mem and mem <= 640 * MiB:
        return Suggestion("pi-zero-2w", (f"{mem // MiB} MiB RAM: the profile for 512 MiB devices",))
    if facts.modem:
        return Suggestion("cellular-tracker", ("cellular modem present: a metered link",))
    return Suggestion(
        None, ("no device profile fits; the built-in defaults suit machines with 1 GiB or more",)
    )
