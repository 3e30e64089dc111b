"""Configuration of the upstream exporter (``[exporter]``).

Key names follow the OpenTelemetry Collector's ``otlphttp`` exporter where
one exists, so operators carry their knowledge over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edge_agent.config.units import ByteSize, Duration


def _check_endpoint(value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class RetryConfig:
    """``[exporter.retry_on_failure]``: backoff between attempts of one batch."""

    enabled: bool = field(
        default=True, metadata={"help": "retry retryable failures (429, 502-504, transport errors)"}
    )
    initial_interval: Duration = field(
        default=Duration(5.0), metadata={"help": "first backoff", "check": _check_positive}
    )
    max_interval: Duration = field(
        default=Duration(30.0), metadata={"help": "backoff ceiling", "check": _check_positive}
    )
    multiplier: float = field(default=1.5, metadata={"help": "growth per failed attempt"})
    randomization_factor: float = field(
        default=0.5, metadata={"help": "jitter: each wait is drawn from [1-f, 1+f] x the backoff"}
    )
    max_elapsed_time: Duration = field(
        default=Duration(0.0),
        metadata={"help": "give up on a batch after this long; 0 = never (the buffer budget is the limit)"},
    )

    def __post_init__(self) -> None:
        if self.multiplier < 1:
            raise ValueError("retry_on_failure.multiplier must be >= 1")
        if not 0 <= self.randomization_factor <= 1:
            raise ValueError("retry_on_failure.randomization_factor must be between 0 and 1")
        if self.max_interval < self.initial_interval:
            raise ValueError("retry_on_failure.max_interval must be >= initial_interval")


@dataclass(frozen=True)
class BatchConfig:
    """``[exporter.batch]``: how fragments are grouped into requests."""

    max_bytes: ByteSize = field(
        default=ByteSize(512 * 1024),
        metadata={"help": "uncompressed OTLP bytes per request", "check": _check_positive},
    )


@dataclass(frozen=True)
class ExporterConfig:
    """``[exporter]``: where and how telemetry is sent upstream."""

    endpoint: str = field(
        default="http://127.0.0.1:4318",
        metadata={
            "help": "OTLP/HTTP base URL; /v1/{traces,metrics,logs} is appended",
            "check": _check_endpoint,
        },
    )
    compression: Literal["gzip", "zstd", "none"] = field(
        default="gzip", metadata={"help": "request body encoding"}
    )
    timeout: Duration = field(
        default=Duration(10.0),
        metadata={"help": "per-request deadline (connect + send + response)", "check": _check_positive},
    )
    headers: dict[str, str] = field(default_factory=dict, metadata={"help": "static request headers"})
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
