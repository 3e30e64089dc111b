"""Validation helpers for processor configs, without the processors themselves.

The config schema imports this module on every start; the processors (and
the generated protobuf classes they need) are imported only when a
processor is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.otlp.fragment import Signal

SEVERITY_NAMES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21}


def parse_severity(text: str) -> int:
    """``"warn"``, ``"error3"`` (ERROR3 = 19) or ``"17"`` to an OTLP severity number (1-24); 0 for empty."""
    value = text.strip().lower()
    if not value:
        return 0
    if value.isdigit() and 1 <= int(value) <= 24:
        return int(value)
    base = value.rstrip("1234")
    offset = value[len(base) :]
    if base in SEVERITY_NAMES and offset in ("", "1", "2", "3", "4"):
        return SEVERITY_NAMES[base] + (int(offset) - 1 if offset else 0)
    raise ValueError(
        f"unknown severity {text!r}; use trace, debug, info, warn, error, fatal (optionally 2-4, "
        "e.g. error2) or a number 1-24"
    )


def criteria_signals(*, metric_names: bool, span_names: bool, logs_only: bool) -> frozenset[Signal]:
    """The signals a set of filter criteria can apply to; ``ValueError`` when they exclude each other."""
    wanted = {
        Signal.METRICS: metric_names,
        Signal.TRACES: span_names,
        Signal.LOGS: logs_only,
    }
    specific = [s for s, used in wanted.items() if used]
    if len(specific) > 1:
        names = " and ".join(s.value for s in specific)
        raise ValueError(
            f"criteria for {names} cannot be combined in one filter (a record has one signal); "
            "use one filter processor per signal"
        )
    return frozenset(specific) if specific else frozenset(Signal)


def check_scalars(values: Mapping[str, Any]) -> None:
    """Config check: attribute values must be strings, numbers or booleans."""
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool):
            kind = type(value).__name__
            raise ValueError(f"value of {key!r} must be a string, number or boolean, got {kind}")
