"""Render the agent's own metrics in the Prometheus text exposition format (0.0.4)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from edge_agent.runtime.telemetry import MetricSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
# OTel unit -> Prometheus unit suffix, per the OTel/Prometheus compatibility spec
_UNIT_SUFFIX = {"By": "bytes", "s": "seconds", "1": "", "ms": "milliseconds"}


def metric_name(snapshot: MetricSnapshot) -> str:
    base = "edge_agent_" + _INVALID.sub("_", snapshot.name.replace(".", "_"))
    suffix = _UNIT_SUFFIX.get(snapshot.unit, "")
    if suffix and not base.endswith("_" + suffix):
        base += "_" + suffix
    if snapshot.kind == "counter":
        base += "_total"
    return base


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: dict[str, str], extra: tuple[str, str] | None = None) -> str:
    items = [*labels.items(), *([extra] if extra else [])]
    if not items:
        return ""
    return "{" + ",".join(f'{_INVALID.sub("_", k)}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(snapshots: Iterable[MetricSnapshot]) -> str:
    lines: list[str] = []
    for snap in snapshots:
        name = metric_name(snap)
        # In the 0.0.4 text format TYPE names the sample name itself, _total included.
        family = name
        lines.append(f"# HELP {family} {_escape(snap.description)}")
        lines.append(f"# TYPE {family} {snap.kind}")
        for sample in snap.samples:
            if snap.kind == "histogram":
                cumulative = 0
                for bound, count in zip((*sample.bounds, math.inf), sample.bucket_counts, strict=True):
                    cumulative += count
                    le = ("le", "+Inf" if math.isinf(bound) else _number(bound))
                    lines.append(f"{family}_bucket{_labels(sample.labels, le)} {cumulative}")
                lines.append(f"{family}_sum{_labels(sample.labels)} {_number(sample.value)}")
                lines.append(f"{family}_count{_labels(sample.labels)} {sample.count}")
            else:
                lines.append(f"{name}{_labels(sample.labels)} {_number(sample.value)}")
    return "\n".join(lines) + "\n"
