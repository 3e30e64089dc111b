"""Sans-IO parser for InfluxDB line protocol -> gauge points.

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``:
each numeric field becomes a point of the gauge ``<measurement>.<field>``
with the tags as attributes. Integers (``12i``), unsigned (``12u``),
floats and booleans (``t``/``true`` -> 1) are kept; string fields are not
numbers and are skipped (counted by the caller). Backslash escapes in
measurement, tag keys/values and field keys (``\\ ``, ``\\,``, ``\\=``) are
honoured. The timestamp is ignored: points carry the collection time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class InfluxError(ValueError):
    """A line that is not valid line protocol (the message says why)."""


@dataclass(frozen=True)
class InfluxPoint:
    name: str
    tags: dict[str, str]
    value: int | float


def parse_lines(text: str) -> tuple[list[InfluxPoint], int]:
    """All points of a page, and how many string fields were skipped; raises InfluxError with the line."""
    points: list[InfluxPoint] = []
    skipped = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            line_points, line_skipped = parse_line(line)
        except InfluxError as exc:
            raise InfluxError(f"line {number}: {exc}") from None
        points += line_points
        skipped += line_skipped
    return points, skipped


def parse_line(line: str) -> tuple[list[InfluxPoint], int]:
    parts = _split(line, " ", limit=3)
    if len(parts) < 2:
        raise InfluxError("expected 'measurement[,tags] fields [timestamp]'")
    series = _split(parts[0], ",")
    measurement = _unescape(series[0])
    if not measurement:
        raise InfluxError("empty measurement name")
    tags = dict(_pair(item) for item in series[1:])
    points, skipped = [], 0
    for field in _split(parts[1], ","):
        key, raw = _pair(field, keep_quotes=True)
        value = _field_value(raw)
        if value is None:
            skipped += 1
            continue
        points.append(InfluxPoint(f"{measurement}.{key}", tags, value))
    return points, skipped


def _split(text: str, sep: str, limit: int = 0) -> list[str]:
    """Split on ``sep`` outside backslash escapes and double quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == sep and not quoted and (not limit or len(out) < limit - 1):
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise InfluxError("unterminated string field")
    out.append("".join(current))
    return [part for part in out if part] if sep == " " else out


def _unescape(text: str) -> str:
    return text.replace("\\ ", " ").replace("\\,", ",").replace("\\=", "=").replace('\\"', '"')


def _pair(item: str, *, keep_quotes: bool = False) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    while key.endswith("\\") and sep:  # an escaped '=' inside the key
        more_key, sep, value = value.partition("=")
        key = f"{key}={more_key}"
    if not sep or not key or not value:
        raise InfluxError(f"expected key=value, got {item[:40]!r}")
    return _unescape(key), value if keep_quotes else _unescape(value)


def _field_value(raw: str) -> int | float | None:
    if raw.startswith('"'):
        return None  # string field
    lowered = raw.lower()
    if lowered in ("t", "true"):
        return 1
    if lowered in ("f", "false"):
        return 0
    try:
        if raw[-1] in "iu":
            return int(raw[:-1])
        value = float(raw)
    except (ValueError, IndexError):
        raise InfluxError(f"field value {raw[:40]!r} is not a number, boolean or string") from None
    if not math.isfinite(value):
        raise InfluxError(f"field value {raw!r} is not finite")
    return value
