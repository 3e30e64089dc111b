"""Hardware detection suggests a device profile from what the kernel reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config.hardware import Facts, gather_facts, suggest_profile
from edge_agent.config.load import available_profiles

MiB = 1024 * 1024


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _meminfo(mib: int) -> str:
    return f"MemTotal:       {mib * 1024} kB\nMemFree:        1000 kB\n"


def _cpus(n: int) -> str:
    return "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\n\n" for i in range(n))


@pytest.mark.parametrize(
    ("files", "arch", "expected"),
    [
        ({"proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.4\0", "proc/meminfo": _meminfo(3796)}, "aarch64", "raspberry-pi-4"),
        ({"proc/device-tree/model": "Raspberry Pi Zero 2 W Rev 1.0\0", "proc/meminfo": _meminfo(427)}, "aarch64", "pi-zero-2w"),
        ({"proc/device-tree/model": "NVIDIA Jetson Orin Nano Developer Kit\0", "proc/meminfo": _meminfo(7620)}, "aarch64", "jetson-orin-nano"),
        ({"etc/nv_tegra_release": "# R36 (release)\n", "proc/meminfo": _meminfo(7620)}, "aarch64", "jetson-orin-nano"),
        ({"proc/device-tree/model": "Moxa UC-8100A\0", "proc/meminfo": _meminfo(246)}, "armv7l", "industrial-gateway-armv7-256mb"),
        ({"dev/cdc-wdm0": "", "sys/class/power_supply/battery/type": "Battery\n", "proc/meminfo": _meminfo(3000)}, "aarch64", "cellular-tracker"),
        ({"sys/class/net/wwan0/type": "1\n", "proc/meminfo": _meminfo(256)}, "armv7l", "cellular-tracker"),
        ({"sys/class/dmi/id/product_name": "Standard PC (Q35)\n", "proc/meminfo": _meminfo(16000)}, "x86_64", None),
        ({"proc/meminfo": _meminfo(600)}, "x86_64", "pi-zero-2w"),
    ],
)  # fmt: skip
def test_suggestions_per_device_class(
    tmp_path: Path, files: dict[str, str], arch: str, expected: str | None
) -> None:
    """Model string, Tegra release file, modem and battery, memory size: each picks the right profile."""
    facts = gather_facts(_tree(tmp_path, files), arch=arch)
    suggestion = suggest_profile(facts)
    assert suggestion.profile == expected
    assert suggestion.reasons
    assert suggestion.profile is None or suggestion.profile in available_profiles()


def test_facts_are_read_from_the_kernel_files(tmp_path: Path) -> None:
    """Model (NUL stripped), CPU count, memory, modem and battery come from /proc, /sys and /dev."""
    root = _tree(
        tmp_path,
        {
            "proc/device-tree/model": "Raspberry Pi 4 Model B\0",
            "proc/cpuinfo": _cpus(4),
            "proc/meminfo": _meminfo(1024),
            "dev/cdc-wdm0": "",
            "sys/class/power_supply/BAT0/type": "Battery\n",
        },
    )
    facts = gather_facts(root, arch="aarch64")
    assert facts == Facts("Raspberry Pi 4 Model B", "aarch64", 4, 1024 * MiB, modem=True, battery=True)
    assert "cellular modem" in facts.describe() and "1024 MiB RAM" in facts.describe()


def test_empty_machine_gets_no_suggestion(tmp_path: Path) -> None:
    """Nothing readable: no guess, and a reason saying so."""
    suggestion = suggest_profile(gather_facts(tmp_path, arch=""))
    assert suggestion.profile is None and "no device profile fits" in suggestion.reasons[0]


def test_cli_prints_the_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    """check-config --suggest-profile prints the hardware and a profile line or says none fits."""
    assert main(["check-config", "--suggest-profile"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# hardware: ")
    assert 'profile = "' in out or "no profile suggested" in out
