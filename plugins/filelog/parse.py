"""Parsing records (JSON objects or regex named groups) into body, severity, timestamp and attributes.

Sans-IO and per record: only used when ``parser`` is set, so it is allowed
to build Python objects. A record that does not parse keeps its whole text
as the body and is counted (``parse_errors``); it is never dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from edge_agent import AttributeValue, Severity

# Severity words as they appear in logs (lower-cased) -> OTLP SeverityNumber.
SEVERITY_WORDS = {
    "trace": 1,
    "debug": 5,
    "dbg": 5,
    "info": 9,
    "information": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "err": 17,
    "crit": 18,
    "critical": 18,
    "alert": 19,
    "emerg": 21,
    "emergency": 21,
    "fatal": 21,
    "panic": 21,
}
# syslog PRIORITY 0..7 (emerg..debug) -> OTLP SeverityNumber
SYSLOG_SEVERITY = (21, 19, 18, 17, 13, 10, 9, 5)


def severity_number(value: object) -> int:
    """Map a level word (``WARN``) or a syslog priority number (``4``) to an OTLP SeverityNumber."""
    if isinstance(value, bool):
        return Severity.UNSPECIFIED
    if isinstance(value, int):
        return SYSLOG_SEVERITY[value] if 0 <= value < len(SYSLOG_SEVERITY) else Severity.UNSPECIFIED
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return severity_number(int(text))
        return SEVERITY_WORDS.get(text, Severity.UNSPECIFIED)
    return Severity.UNSPECIFIED


def parse_timestamp(value: object, fmt: str = "") -> int:
    """Unix nanoseconds from RFC 3339 text, a strptime ``fmt``, or an epoch number; 0 if unparsable."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return _epoch_ns(value)
    if not isinstance(value, str) or not value:
        return 0
    try:
        if fmt:
            parsed = datetime.strptime(value, fmt)
        else:
            try:
                return _epoch_ns(float(value))
            except ValueError:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # naive times are taken as UTC (documented)
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000


def _epoch_ns(number: float) -> int:
    # magnitude tells the unit: seconds until year 5138, then ms, us, ns
    for bound, scale in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3)):
        if number < bound:
            if isinstance(number, int):
                return number * scale  # exact: no float rounding of big integers
            return round(number * scale)
    return int(number)


@dataclass(frozen=True)
class Parsed:
    body: AttributeValue
    severity: int = 0
    severity_text: str = ""
    time_ns: int = 0
    attributes: dict[str, AttributeValue] | None = None


class RecordParser:
    def __init__(
        self,
        kind: str,
        *,
        regex: str = "",
        body_field: str = "message",
        severity_field: str = "level",
        timestamp_field: str = "time",
        timestamp_format: str = "",
    ) -> None:
        self.kind = kind
        self.pattern = re.compile(regex) if regex else None
        self.body_field = body_field
        self.severity_field = severity_field
        self.timestamp_field = timestamp_field
        self.timestamp_format = timestamp_format

    def parse(self, text: str) -> Parsed | None:
        """Fields of one record, or None when it does not parse (the caller keeps the raw text)."""
        fields = self._fields(text)
        if fields is None:
            return None
        body = fields.pop(self.body_field, None)
        level = fields.pop(self.severity_field, None)
        stamp = fields.pop(self.timestamp_field, None)
        attributes = {k: a for k, raw in fields.items() if (a := _attribute(raw)) is not None}
        return Parsed(
            body=text if body is None else (_attribute(body) or ""),
            severity=severity_number(level),
            severity_text=level if isinstance(level, str) else "",
            time_ns=parse_timestamp(stamp, self.timestamp_format),
            attributes=attributes or None,
        )

    def _fields(self, text: str) -> dict[str, Any] | None:
        if self.kind == "json":
            try:
                value = json.loads(text)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
        assert self.pattern is not None
        match = self.pattern.search(text)
        if match is None:
            return None
        return {k: v for k, v in match.groupdict().items() if v is not None}


def _attribute(value: Any) -> AttributeValue | None:
    """JSON values as OTLP attribute values (null dropped; big ints and nested nulls made safe)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < (1 << 63):
        return str(value)
    if isinstance(value, dict):
        return {str(k): v for k, item in value.items() if (v := _attribute(item)) is not None}
    if isinstance(value, list):
        return [v for item in value if (v := _attribute(item)) is not None]
    return value  # type: ignore[no-any-return]
