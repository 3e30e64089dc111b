"""The agent's own metrics: a tiny registry of counters, gauges and histograms.

One registry per agent. Components get the instruments they update and
never the registry itself. Snapshots (:meth:`Registry.collect`) feed both
the admin endpoint's Prometheus text and the ``edge_agent.*`` OTLP metrics
exported upstream, so the two always agree.

Naming: an instrument is created as ``records.exported`` with a unit; it is
exported to OTLP as ``edge_agent.records.exported`` and to Prometheus as
``edge_agent_records_exported_total`` (counters) / ``edge_agent_queue_bytes``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

LabelValues = tuple[str, ...]
Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float
    # histogram only
    bounds: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()
    count: int = 0


@dataclass(frozen=True)
class MetricSnapshot:
    name: str
    kind: Kind
    unit: str
    description: str
    samples: tuple[Sample, ...]


@dataclass
class _Instrument:
    name: str
    description: str
    unit: str
    label_names: tuple[str, ...]
    kind: Kind = field(init=False)

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if labels.keys() != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(labels[n] for n in self.label_names)

    def _labels(self, key: LabelValues) -> dict[str, str]:
        return dict(zip(self.label_names, key, strict=True))


@dataclass
class Counter(_Instrument):
    """A monotonically increasing count."""

    values: dict[LabelValues, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = "counter"

    def inc(self, amount: float = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(self._key(labels), 0)

    def total(self) -> float:
        return sum(self.values.values())

    def samples(self) -> tuple[Sample, ...]:
        return tuple(Sample(self._labels(k), v) for k, v in sorted(self.values.items()))


@dataclass
class Gauge(_Instrument):
    """A value that goes up and down; set directly or read from a callback at collect time."""

    values: dict[LabelValues, float] = field(default_factory=dict)
    callback: Callable[[], Iterable[tuple[dict[str, str], float]]] | None = None

    def __post_init__(self) -> None:
        self.kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self.values[self._key(labels)] = value

    def value(self, **labels: str) -> float:
        self._refresh()
        return self.values.get(self._key(labels), 0)

    def samples(self) -> tuple[Sample, ...]:
        self._refresh()
        return tuple(Sample(self._labels(k), v) for k, v in sorted(self.values.items()))

    def _refresh(self) -> None:
        if self.callback is not None:
            for labels, value in self.callback():
                self.set(value, **labels)


DEFAULT_SECONDS_BOUNDS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram(_Instrument):
    """Explicit-bucket histogram (cumulative)."""

    bounds: tuple[float, ...] = DEFAULT_SECONDS_BOUNDS
    series: dict[LabelValues, tuple[list[int], list[float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = "histogram"

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        entry = self.series.get(key)
        if entry is None:
            entry = self.series[key] = ([0] * (len(self.bounds) + 1), [0.0])
        entry[0][bisect.bisect_left(self.bounds, value)] += 1
        entry[1][0] += value

    def samples(self) -> tuple[Sample, ...]:
        return tuple(
            Sample(self._labels(k), total[0], self.bounds, tuple(counts), sum(counts))
            for k, (counts, total) in sorted(self.series.items())
        )


class Registry:
    """Creates instruments and snapshots them."""

    def __init__(self) -> None:
        self._instruments: dict[str, Counter | Gauge | Histogram] = {}

    def counter(self, name: str, description: str, unit: str = "1", labels: Iterable[str] = ()) -> Counter:
        return self._register(Counter(name, description, unit, tuple(labels)))  # type: ignore[return-value]

    def gauge(
        self,
        name: str,
        description: str,
        unit: str = "1",
        labels: Iterable[str] = (),
        callback: Callable[[], Iterable[tuple[dict[str, str], float]]] | None = None,
    ) -> Gauge:
        gauge = Gauge(name, description, unit, tuple(labels), callback=callback)
        return self._register(gauge)  # type: ignore[return-value]

    def histogram(
        self,
        name: str,
        description: str,
        unit: str = "s",
        labels: Iterable[str] = (),
        bounds: tuple[float, ...] = DEFAULT_SECONDS_BOUNDS,
    ) -> Histogram:
        return self._register(Histogram(name, description, unit, tuple(labels), bounds=bounds))  # type: ignore[return-value]

    def _register(self, instrument: Counter | Gauge | Histogram) -> Counter | Gauge | Histogram:
        existing = self._instruments.get(instrument.name)
        if existing is not None:
            if type(existing) is not type(instrument) or existing.label_names != instrument.label_names:
                raise ValueError(f"metric {instrument.name} already registered differently")
            return existing
        self._instruments[instrument.name] = instrument
        return instrument

    def get(self, name: str) -> Counter | Gauge | Histogram:
        return self._instruments[name]

    def collect(self) -> list[MetricSnapshot]:
        return [
            MetricSnapshot(i.name, i.kind, i.unit, i.description, i.samples())
            for i in self._instruments.values()
        ]
