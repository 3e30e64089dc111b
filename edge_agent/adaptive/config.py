"""Configuration of adaptive scheduling, degradation modes, anomaly bursts and link prediction.

``[adaptive]`` and its sub-tables; see ``docs/degradation.md`` for what each
mode does. Per-plugin interval bounds (``min_interval``/``max_interval``)
live on ``[plugins.<name>]`` with the other common plugin keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edge_agent.config.units import ByteSize, Duration
from edge_agent.otlp.fragment import Priority

# ``name`` or ``name{key=value,key2=value2}``: a metric name and an optional attribute filter
_SERIES = re.compile(r"^([A-Za-z_][\w.\-/]*)(?:\{([^{}]*)\})?$")


@dataclass(frozen=True)
class SeriesSelector:
    """One entry of ``adaptive.anomaly.series``: a metric name and attribute values it must have."""

    metric: str
    attributes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> SeriesSelector:
        match = _SERIES.match(text.strip())
        if match is None:
            raise ValueError(
                f"invalid series {text!r}: use a metric name, optionally with attribute values, "
                "e.g. 'system.cpu.utilization{system.cpu.state=user}'"
            )
        pairs: list[tuple[str, str]] = []
        for part in filter(None, (p.strip() for p in (match.group(2) or "").split(","))):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"invalid attribute filter {part!r} in series {text!r}: use key=value")
            pairs.append((key.strip(), value.strip()))
        return cls(match.group(1), tuple(sorted(pairs)))

    def matches(self, metric: str, attributes: dict[str, str]) -> bool:
        return metric == self.metric and all(attributes.get(k) == v for k, v in self.attributes)


def _check_series(value: tuple[str, ...]) -> None:
    for text in value:
        SeriesSelector.parse(text)


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


def _check_fraction(value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"must be a fraction in (0, 1], got {value!r}")


def _check_percent(value: float) -> None:
    if not 0 < value <= 100:
        raise ValueError(f"must be a percentage in (0, 100], got {value!r}")


def _check_probability(value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"must be a probability in [0, 1), got {value!r}")


@dataclass(frozen=True)
class AnomalyConfig:
    """``[adaptive.anomaly]``: burst collection when a watched series misbehaves."""

    enabled: bool = field(default=True, metadata={"help": "watch series and burst on anomalies"})
    series: tuple[str, ...] = field(
        default=("system.memory.utilization", "system.cpu.load_average.1m"),
        metadata={
            "help": "metric names to watch, optionally with attribute values: "
            "'system.cpu.utilization{system.cpu.state=user}'",
            "check": _check_series,
        },
    )
    threshold: float = field(
        default=4.0,
        metadata={"help": "deviations from the running mean that are an anomaly", "check": _check_positive},
    )
    alpha: float = field(
        default=0.05,
        metadata={"help": "weight of each new value in the running mean/variance", "check": _check_fraction},
    )
    warmup: int = field(default=20, metadata={"help": "values a series needs before it can be anomalous"})
    burst_factor: float = field(
        default=4.0,
        metadata={"help": "collection speeds up this many times during a burst", "check": _check_positive},
    )
    burst_duration: Duration = field(
        default=Duration(300.0), metadata={"help": "how long a burst lasts", "check": _check_positive}
    )
    burst_plugins: tuple[str, ...] = field(
        default=(),
        metadata={"help": "plugin instances that burst on any anomaly (the emitting plugin always does)"},
    )
    quiet_after: Duration = field(
        default=Duration(1800.0),
        metadata={"help": "without anomalies for this long, watched plugins slow down by quiet_factor"},
    )
    quiet_factor: float = field(
        default=2.0, metadata={"help": "slow-down of watched plugins when quiet", "check": _check_positive}
    )
    max_series: int = field(default=256, metadata={"help": "series tracked at most (memory bound)"})

    def selectors(self) -> tuple[SeriesSelector, ...]:
        return tuple(SeriesSelector.parse(s) for s in self.series)


@dataclass(frozen=True)
class PredictorConfig:
    """``[adaptive.predictor]``: skip export attempts that are predicted to fail."""

    enabled: bool = field(default=True, metadata={"help": "predict export failures and skip doomed attempts"})
    skip_threshold: float = field(
        default=0.8,
        metadata={
            "help": "skip an attempt when its predicted failure probability is at least this",
            "check": _check_fraction,
        },
    )
    memory: int = field(
        default=20,
        metadata={
            "help": "outcomes each of the model's failure rates remembers (older ones fade)",
            "check": _check_positive,
        },
    )
    warmup: int = field(default=10, metadata={"help": "attempts observed before any is skipped"})
    explore: float = field(
        default=0.01,
        metadata={
            "help": "share of skip verdicts sent anyway, to measure skip precision",
            "check": _check_probability,
        },
    )
    recheck: Duration = field(
        default=Duration(15.0),
        metadata={"help": "after a skip, ask the model again this much later", "check": _check_positive},
    )
    max_defer: Duration = field(
        default=Duration(300.0),
        metadata={"help": "never skip when nothing was attempted for this long", "check": _check_positive},
    )


@dataclass(frozen=True)
class DownsampleConfig:
    """``[adaptive.downsample]``: fold low-priority metrics into aggregates while degraded."""

    enabled: bool = field(default=True, metadata={"help": "downsample metrics while offline or disk-pressed"})
    window: Duration = field(
        default=Duration(60.0),
        metadata={
            "help": "while offline: one min/max/avg/last aggregate per series per window",
            "check": _check_positive,
        },
    )
    disk_pressure_window: Duration = field(
        default=Duration(300.0),
        metadata={"help": "under disk pressure: the (longer) aggregation window", "check": _check_positive},
    )
    offline_priority: Priority = field(
        default=Priority.BULK,
        metadata={"help": "while offline, metrics of this priority or less important are downsampled"},
    )
    disk_pressure_priority: Priority = field(
        default=Priority.NORMAL,
        metadata={
            "help": "under disk pressure while offline, metrics of this priority or less important "
            "are downsampled"
        },
    )
    max_held_bytes: ByteSize = field(
        default=ByteSize(1024 * 1024),
        metadata={"help": "raw bytes held for folding at most; past it the window closes early"},
    )


@dataclass(frozen=True)
class AdaptiveConfig:
    """``[adaptive]``: pressure signals, degradation modes and their thresholds."""

    enabled: bool = field(
        default=True, metadata={"help": "adapt collection to pressure; false = fixed intervals"}
    )
    sample_interval: Duration = field(
        default=Duration(10.0), metadata={"help": "how often pressure is sampled", "check": _check_positive}
    )
    max_cpu_percent: float = field(
        default=2.0,
        metadata={"help": "the agent's CPU budget, percent of one core", "check": _check_percent},
    )
    cpu_window: Duration = field(
        default=Duration(60.0),
        metadata={"help": "the agent's CPU use is averaged over this long", "check": _check_positive},
    )
    max_rss: ByteSize = field(
        default=ByteSize(96 * 1024 * 1024),
        metadata={"help": "resident memory above this puts the agent in constrained mode"},
    )
    host_cpu_high: float = field(
        default=0.9,
        metadata={"help": "device CPU busy fraction that enters constrained mode", "check": _check_fraction},
    )
    host_cpu_low: float = field(
        default=0.7, metadata={"help": "...and below which it may leave it", "check": _check_fraction}
    )
    memory_high: float = field(
        default=0.9,
        metadata={
            "help": "device memory in use (fraction) that enters constrained mode",
            "check": _check_fraction,
        },
    )
    memory_low: float = field(
        default=0.8, metadata={"help": "...and below which it may leave it", "check": _check_fraction}
    )
    fill_high: float = field(
        default=0.9,
        metadata={
            "help": "buffer fill (fraction of its budget) that enters disk_pressure",
            "check": _check_fraction,
        },
    )
    fill_low: float = field(
        default=0.7, metadata={"help": "...and below which it may leave it", "check": _check_fraction}
    )
    battery_low_percent: float = field(
        default=20.0,
        metadata={"help": "on battery below this charge the agent is constrained", "check": _check_percent},
    )
    enter_after: Duration = field(
        default=Duration(20.0), metadata={"help": "a condition must hold this long before a mode is entered"}
    )
    exit_after: Duration = field(
        default=Duration(60.0),
        metadata={"help": "a condition must be clear (below its low mark) this long before the mode is left"},
    )
    anomaly: AnomalyConfig = field(default_factory=AnomalyConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    downsample: DownsampleConfig = field(default_factory=DownsampleConfig)

    def __post_init__(self) -> None:
        for name in ("host_cpu", "memory", "fill"):
            high, low = getattr(self, f"{name}_high"), getattr(self, f"{name}_low")
            if not low < high:
                raise ValueError(f"{name}_low ({low:g}) must be below {name}_high ({high:g})")

    @property
    def cpu_budget(self) -> float:
        """The CPU budget in cores (2 % -> 0.02)."""
        return self.max_cpu_percent / 100.0
