"""Sans-IO parser for the Prometheus text exposition format 0.0.4 and the common OpenMetrics subset.

Produces metric *families* (``# TYPE`` name, type, help, samples). Handles
label value escapes (``\\\\``, ``\\"``, ``\\n``), ``+Inf``/``-Inf``/``NaN``,
optional sample timestamps (ignored: the scrape time is used), OpenMetrics
``# EOF``, ``_total``/``_created`` counter samples and exemplars (``# {...}``
after a value, dropped). A malformed line raises :class:`ExpositionError`
with its line number: one bad line fails the scrape (like Prometheus),
because a partially understood page could silently misreport.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info")


_TYPES = (
    "counter",
    "gauge",
    "histogram",
    "summary",
    "untyped",
    "unknown",
    "info",
    "stateset",
    "gaugehistogram",
)


class ExpositionError(ValueError):
    """The page is not valid Prometheus text (the message names the line)."""


@dataclass
class Family:
    name: str
    type: str = (
        "untyped"  # counter | gauge | histogram | summary | untyped | info | stateset | gaugehistogram
    )
    help: str = ""
    unit: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse(text: str) -> list[Family]:
    """Parse a whole exposition page into families, in page order."""
    families: dict[str, Family] = {}
    current: Family | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            if line.startswith("#"):
                current = _comment(line, families, current)
                if line == "# EOF":
                    break
                continue
            name, labels, value = _sample(line)
        except ExpositionError as exc:
            raise ExpositionError(f"line {number}: {exc}: {line[:80]!r}") from None
        family = _family_for(name, families, current)
        family.samples.append((name, labels, value))
        current = family
    return list(families.values())


def _comment(line: str, families: dict[str, Family], current: Family | None) -> Family | None:
    parts = line.split(None, 3)
    if len(parts) < 3 or parts[1] not in ("HELP", "TYPE", "UNIT"):
        return current  # a plain comment
    name = parts[2]
    family = families.setdefault(name, Family(name))
    rest = parts[3] if len(parts) > 3 else ""
    if parts[1] == "TYPE":
        kind = rest.strip().lower()
        if kind not in _TYPES:
            raise ExpositionError(f"unknown metric type {kind!r}")
        family.type = "untyped" if kind == "unknown" else kind
    elif parts[1] == "HELP":
        family.help = rest.replace("\\n", "\n").replace("\\\\", "\\")
    else:
        family.unit = rest.strip()
    return family


def _family_for(name: str, families: dict[str, Family], current: Family | None) -> Family:
    if name in families:
        return families[name]
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            base = families.get(name[: -len(suffix)])
            if base is not None and base.type != "untyped":
                return base
    if current is not None and name.startswith(current.name) and current.type != "untyped":
        return current
    return families.setdefault(name, Family(name))


def _sample(line: str) -> tuple[str, dict[str, str], float]:
    brace = line.find("{")
    space = line.find(" ")
    labels: dict[str, str] = {}
    if brace >= 0 and (space < 0 or brace < space):
        name = line[:brace]
        labels, end = _labels(line, brace + 1)
        rest = line[end:]
    else:
        if space < 0:
            raise ExpositionError("sample without a value")
        name, rest = line[:space], line[space:]
    if (
        not name
        or not (name[0].isalpha() or name[0] in "_:")
        or not all(c.isalnum() or c in "_:" for c in name)
    ):
        raise ExpositionError(f"invalid metric name {name[:40]!r}")
    rest = rest.split("#", 1)[0]  # OpenMetrics exemplar
    fields = rest.split()
    if not fields or len(fields) > 2:
        raise ExpositionError("expected a value and an optional timestamp")
    return name, labels, _value(fields[0])


def _labels(line: str, pos: int) -> tuple[dict[str, str], int]:
    labels: dict[str, str] = {}
    end = len(line)
    while True:
        while pos < end and line[pos] in " ,":
            pos += 1
        if pos < end and line[pos] == "}":
            return labels, pos + 1
        eq = line.find("=", pos)
        if eq < 0 or eq + 1 >= end or line[eq + 1] != '"':
            raise ExpositionError("malformed label set")
        key = line[pos:eq].strip()
        if not key:
            raise ExpositionError("label without a name")
        value, pos = _quoted(line, eq + 2)
        labels[key] = value


def _quoted(line: str, pos: int) -> tuple[str, int]:
    out = []
    end = len(line)
    while pos < end:
        char = line[pos]
        if char == "\\" and pos + 1 < end:
            nxt = line[pos + 1]
            out.append("\n" if nxt == "n" else nxt)
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise ExpositionError("unterminated label value")


def _value(text: str) -> float:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ExpositionError(f"value {text[:30]!r} is not a number") from None
