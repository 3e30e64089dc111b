"""Sans-IO conversion of ``journalctl --output=json`` entries to log records.

Mapping: ``MESSAGE`` -> body (journald writes binary messages as a list of
byte values: decoded as UTF-8 with replacement); ``__REALTIME_TIMESTAMP``
(microseconds) -> time; ``PRIORITY`` 0..7 -> OTLP severity (emerg 21,
alert 19, crit 18, err 17, warning 13, notice 10, info 9, debug 5) and the
syslog name as severity text; selected fields -> attributes (see
``FIELD_ATTRIBUTES``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge_agent import AttributeValue

PRIORITY_SEVERITY = (21, 19, 18, 17, 13, 10, 9, 5)
PRIORITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
FIELD_ATTRIBUTES = {
    "_SYSTEMD_UNIT": "systemd.unit",
    "SYSLOG_IDENTIFIER": "syslog.identifier",
    "_PID": "process.pid",
    "_COMM": "process.command",
    "_HOSTNAME": "host.name",
    "_TRANSPORT": "journald.transport",
}


class EntryError(ValueError):
    """A line of journalctl output that is not a journal entry."""


@dataclass(frozen=True)
class Entry:
    cursor: str
    body: str
    time_ns: int
    severity: int
    severity_text: str
    attributes: dict[str, AttributeValue]


def parse_entry(line: bytes) -> Entry:
    try:
        fields = json.loads(line)
    except ValueError as exc:
        raise EntryError(f"not JSON: {exc}") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("__CURSOR"), str):
        raise EntryError("not a journal entry (no __CURSOR)")
    severity, severity_text = _priority(fields.get("PRIORITY"))
    return Entry(
        cursor=fields["__CURSOR"],
        body=_text(fields.get("MESSAGE")),
        time_ns=_int(fields.get("__REALTIME_TIMESTAMP"), maximum=_MAX_REALTIME_US) * 1000,
        severity=severity,
        severity_text=severity_text,
        attributes=_attributes(fields),
    )


def _priority(value: Any) -> tuple[int, str]:
    number = _int(value, -1)
    if 0 <= number < len(PRIORITY_SEVERITY):
        return PRIORITY_SEVERITY[number], PRIORITY_NAMES[number]
    return 0, ""


def _attributes(fields: dict[str, Any]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for field, name in FIELD_ATTRIBUTES.items():
        value = fields.get(field)
        if value is None:
            continue
        out[name] = _int(value, maximum=_INT64_MAX) if name == "process.pid" else _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")  # journald's encoding of binary fields
    if isinstance(value, list):  # a field repeated in one entry: journald gives a list of values
        return "\n".join(_text(v) for v in value)
    return "" if value is None else str(value)


# OTLP times are uint64 nanoseconds, attribute ints int64: values outside (found by fuzzing) would
# make the builder raise and the plugin re-read the same entry forever, so they become the default.
_MAX_REALTIME_US = (2**64 - 1) // 1000
_INT64_MAX = 2**63 - 1


def _int(value: Any, default: int = 0, *, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    if maximum is not None and not 0 <= number <= maximum:
        return default
    return number
