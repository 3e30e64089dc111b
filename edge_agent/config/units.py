"""Typed durations and byte sizes, and their parsers.

Config fields annotated :data:`Duration` hold seconds as ``float`` (what trio
takes); :data:`ByteSize` fields hold bytes as ``int``. The loader accepts
``"250ms"``, ``"10s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` and ``"64KiB"``,
``"1GiB"``, ``"500kB"``; bare numbers are seconds and bytes.
"""

from __future__ import annotations

import re
from typing import NewType

Duration = NewType("Duration", float)
ByteSize = NewType("ByteSize", int)

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)")


def parse_duration(value: object) -> Duration:
    """Parse ``value`` into seconds; raise ``ValueError`` with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '10s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
    else:
        raise ValueError(f"expected a duration like '10s', got {type(value).__name__}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return Duration(seconds)


def _parse_duration_text(text: str) -> float:
    if not text:
        raise ValueError("expected a duration like '10s', got an empty string")
    try:
        return float(text)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit, e.g. '250ms', '10s', '5m', '1h30m'"
        )
    return total


def parse_size(value: object) -> ByteSize:
    """Parse ``value`` into a byte count; raise ``ValueError`` with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like '64KiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    elif isinstance(value, str):
        size = _parse_size_text(value.strip())
    else:
        raise ValueError(f"expected a size like '64KiB', got {value!r}")
    if size < 0:
        raise ValueError(f"size must not be negative, got {value!r}")
    return ByteSize(size)


def _parse_size_text(text: str) -> int:
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"invalid size {text!r}: use a number with a unit, e.g. '512KiB', '64MiB', '1GiB'")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float) -> str:
    """Render seconds the way a user would write them in TOML."""
    if seconds == 0:
        return "0s"
    for unit, factor in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= factor and seconds % factor == 0:
            return f"{int(seconds // factor)}{unit}"
    if seconds < 1 and round(seconds * 1000, 6).is_integer():
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)
