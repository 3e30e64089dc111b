"""Sans-IO parsing of StatsD / DogStatsD lines.

Grammar (one metric per line, several lines per datagram)::

    <name>:<value>[:<value>...]|<type>[|@<sample rate>][|#<tag>[:<value>],...][|<ignored>]

``type`` is ``c`` (counter), ``g`` (gauge; a leading ``+``/``-`` makes it a
delta), ``s`` (set), ``ms`` (timer), ``h`` (histogram) or ``d``
(distribution, treated as a histogram). DogStatsD extensions: several
values separated by ``:``, ``#tags``, and fields this plugin ignores
(``c:`` container id, ``T`` timestamp). Events (``_e{``) and service checks
(``_sc|``) are not metrics and are rejected as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = {"c": "counter", "g": "gauge", "s": "set", "ms": "timer", "h": "histogram", "d": "histogram"}
MAX_NAME = 250


class StatsdParseError(ValueError):
    """A line that is not a valid StatsD metric (the message says why)."""


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str  # counter | gauge | set | timer | histogram
    values: tuple[float, ...]  # for sets: ignored, see ``members``
    members: tuple[str, ...] = ()
    rate: float = 1.0
    tags: tuple[tuple[str, str], ...] = ()
    delta: bool = False  # gauge with an explicit sign


def parse_line(line: str) -> Sample:
    """Parse one line; raises :class:`StatsdParseError` for anything malformed."""
    if line.startswith(("_e{", "_sc|")):
        raise StatsdParseError("DogStatsD events and service checks are not metrics")
    head, sep, rest = line.partition("|")
    if not sep:
        raise StatsdParseError("missing '|<type>'")
    name, sep, raw_values = head.partition(":")
    if not sep or not raw_values:
        raise StatsdParseError("missing ':<value>'")
    if not name or len(name) > MAX_NAME or any(c in name for c in " \t#|@"):
        raise StatsdParseError(f"invalid metric name {name[:40]!r}")
    fields = rest.split("|")
    kind = KINDS.get(fields[0])
    if kind is None:
        raise StatsdParseError(f"unknown metric type {fields[0][:10]!r}")
    rate, tags = _options(fields[1:])
    parts = raw_values.split(":")
    if kind == "set":
        return Sample(name, kind, (), tuple(parts), rate, tags)
    delta = kind == "gauge" and parts[0][:1] in "+-"
    return Sample(name, kind, tuple(_number(p) for p in parts), (), rate, tags, delta)


def _options(fields: list[str]) -> tuple[float, tuple[tuple[str, str], ...]]:
    rate = 1.0
    tags: tuple[tuple[str, str], ...] = ()
    for field in fields:
        if field.startswith("@"):
            rate = _number(field[1:])
            if not 0 < rate <= 1:
                raise StatsdParseError(f"sample rate must be in (0, 1], got {field[1:]!r}")
        elif field.startswith("#"):
            tags = _tags(field[1:])
        # other fields (c: container id, T timestamp) are accepted and ignored
    return rate, tags


def _tags(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for tag in text.split(","):
        if not tag:
            continue
        key, _, value = tag.partition(":")
        if not key:
            raise StatsdParseError(f"tag without a name: {tag[:40]!r}")
        out.append((key, value))
    return tuple(sorted(set(out)))


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StatsdParseError(f"value {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise StatsdParseError(f"value {text[:40]!r} is not finite")
    return value
