"""Configuration of the upstream exporter (``[exporter]``).

Key names follow the OpenTelemetry Collector's ``otlphttp`` exporter where
one exists (``endpoint``, ``headers``, ``compression``, ``timeout``,
``tls.*``, ``retry_on_failure.*``, ``sending_queue.num_consumers``), and
Vector's adaptive request concurrency for ``adaptive_concurrency.*``, so
operators carry their knowledge over. docs/exporter.md documents every key.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from edge_agent.config.units import ByteSize, Duration
from edge_agent.tls.config import TlsClientConfig

# Keys whose values are secrets: redacted in check-config output, /status and logs.
SECRET_KEYS = frozenset({"exporter.headers"})
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "content-encoding", "transfer-encoding", "connection"}
)


def _check_endpoint(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    if not parts.hostname:
        raise ValueError(f"has no host name, got {value!r}")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; put them in exporter.headers_from_file")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment, got {value!r}")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {value!r}") from None


def _check_endpoints(values: tuple[str, ...]) -> None:
    for value in values:
        _check_endpoint(value)


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RetryConfig:
    """``[exporter.retry_on_failure]``: backoff between attempts of one batch."""

    enabled: bool = field(
        default=True,
        metadata={"help": "retry retryable failures; false drops (and counts) a batch after one failure"},
    )
    initial_interval: Duration = field(
        default=Duration(5.0), metadata={"help": "first backoff", "check": _check_positive}
    )
    max_interval: Duration = field(
        default=Duration(30.0), metadata={"help": "backoff ceiling", "check": _check_positive}
    )
    multiplier: float = field(default=1.5, metadata={"help": "growth per failed attempt"})
    jitter: Literal["full", "proportional"] = field(
        default="full",
        metadata={
            "help": "full: wait uniformly in [0, backoff]; proportional: [1-f, 1+f] x backoff "
            "(f = randomization_factor, the Collector's scheme)"
        },
    )
    randomization_factor: float = field(default=0.5, metadata={"help": "spread of proportional jitter"})
    max_elapsed_time: Duration = field(
        default=Duration(0.0),
        metadata={"help": "give up on a batch after this long; 0 = never (the buffer budget is the limit)"},
    )
    max_retry_after: Duration = field(
        default=Duration(600.0),
        metadata={"help": "longest Retry-After honoured from a server; longer values are capped"},
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
class CompressionParams:
    """``[exporter.compression_params]``."""

    level: int = field(default=0, metadata={"help": "compression level; 0 = codec default (gzip 6, zstd 3)"})


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """``[exporter.circuit_breaker]``: per-endpoint; an offline upstream gets one probe per interval."""

    failure_threshold: int = field(default=3, metadata={"help": "consecutive failures that open the breaker"})
    open_interval: Duration = field(
        default=Duration(5.0),
        metadata={"help": "wait before the first probe of an open endpoint", "check": _check_positive},
    )
    max_open_interval: Duration = field(
        default=Duration(60.0),
        metadata={"help": "the wait doubles after each failed probe, up to this", "check": _check_positive},
    )

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("circuit_breaker.failure_threshold must be >= 1")
        if self.max_open_interval < self.open_interval:
            raise ValueError("circuit_breaker.max_open_interval must be >= open_interval")


@dataclass(frozen=True)
class SendingQueueConfig:
    """``[exporter.sending_queue]``: the upper bound of concurrent requests."""

    num_consumers: int = field(
        default=4, metadata={"help": "most requests in flight at once (adaptive concurrency stays below)"}
    )

    def __post_init__(self) -> None:
        if not 1 <= self.num_consumers <= 64:
            raise ValueError("sending_queue.num_consumers must be between 1 and 64")


@dataclass(frozen=True)
class AdaptiveConcurrencyConfig:
    """``[exporter.adaptive_concurrency]``: AIMD on RTT and backpressure (Vector's ARC)."""

    enabled: bool = field(
        default=True, metadata={"help": "false = always use sending_queue.num_consumers requests"}
    )
    initial_concurrency: int = field(default=1, metadata={"help": "requests in flight at start"})
    decrease_ratio: float = field(default=0.9, metadata={"help": "multiplicative decrease on backpressure"})
    ewma_alpha: float = field(default=0.4, metadata={"help": "weight of new RTT windows in the average"})
    rtt_deviation_scale: float = field(
        default=2.5, metadata={"help": "RTT above mean + scale x deviation counts as backpressure"}
    )

    def __post_init__(self) -> None:
        if not 0 < self.decrease_ratio < 1:
            raise ValueError("adaptive_concurrency.decrease_ratio must be between 0 and 1 (exclusive)")
        if not 0 < self.ewma_alpha <= 1:
            raise ValueError("adaptive_concurrency.ewma_alpha must be in (0, 1]")
        if self.rtt_deviation_scale < 0:
            raise ValueError("adaptive_concurrency.rtt_deviation_scale must be >= 0")


@dataclass(frozen=True)
class BandwidthConfig:
    """``[exporter.bandwidth]``: caps on bytes on the wire (compressed), 0 = unlimited."""

    max_bytes_per_second: ByteSize = field(
        default=ByteSize(0), metadata={"help": "sustained upload rate cap"}
    )
    burst_bytes: ByteSize = field(
        default=ByteSize(0), metadata={"help": "bytes that may go at once; 0 = one second's worth"}
    )
    max_bytes_per_day: ByteSize = field(
        default=ByteSize(0), metadata={"help": "cap per 24 h of uptime, for metered links"}
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
    additional_endpoints: tuple[str, ...] = field(
        default=(),
        metadata={"help": "more upstream URLs, used per 'balancing'", "check": _check_endpoints},
    )
    balancing: Literal["failover", "round_robin"] = field(
        default="failover",
        metadata={"help": "failover: first healthy endpoint in order; round_robin: spread requests"},
    )
    allow_insecure: bool = field(
        default=False, metadata={"help": "allow plain http:// to hosts other than loopback"}
    )
    compression: Literal["gzip", "zstd", "none"] = field(
        default="gzip", metadata={"help": "request body encoding (zstd needs the zstd extra)"}
    )
    compression_params: CompressionParams = field(default_factory=CompressionParams)
    timeout: Duration = field(
        default=Duration(30.0),
        metadata={
            "help": "deadline of one attempt (connect + TLS + send + response)",
            "check": _check_positive,
        },
    )
    connect_timeout: Duration = field(
        default=Duration(10.0), metadata={"help": "TCP connect deadline", "check": _check_positive}
    )
    handshake_timeout: Duration = field(
        default=Duration(10.0), metadata={"help": "TLS handshake deadline", "check": _check_positive}
    )
    idle_conn_timeout: Duration = field(
        default=Duration(90.0),
        metadata={"help": "close keep-alive connections idle this long (the Collector's default)"},
    )
    headers: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "static request headers (values are never shown)", "secret": True},
    )
    headers_from_file: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "header name -> file holding its value (e.g. an API key), re-read on change",
            "secret_file": True,
        },
    )
    tls: TlsClientConfig = field(default_factory=TlsClientConfig)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    sending_queue: SendingQueueConfig = field(default_factory=SendingQueueConfig)
    adaptive_concurrency: AdaptiveConcurrencyConfig = field(default_factory=AdaptiveConcurrencyConfig)
    bandwidth: BandwidthConfig = field(default_factory=BandwidthConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)

    def __post_init__(self) -> None:
        urls = self.urls()
        if len(set(urls)) != len(urls):
            raise ValueError("exporter.additional_endpoints repeats an endpoint")
        for url in urls:
            parts = urlsplit(url)
            remote = not is_loopback_host(parts.hostname or "")
            if parts.scheme == "http" and remote and not self.allow_insecure:
                raise ValueError(
                    f"{url} would send telemetry unencrypted over the network; use https:// "
                    "(with exporter.tls.*), or set exporter.allow_insecure = true if you must"
                )
        if self.tls.is_configured() and not any(u.startswith("https://") for u in urls):
            raise ValueError("exporter.tls is configured but no endpoint uses https://")
        ac = self.adaptive_concurrency
        if not 1 <= ac.initial_concurrency <= self.sending_queue.num_consumers:
            raise ValueError(
                "exporter.adaptive_concurrency.initial_concurrency must be between 1 and "
                "sending_queue.num_consumers"
            )
        for name in (*self.headers, *self.headers_from_file):
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the exporter itself and cannot be configured")
        self._check_compression()
        clash = {k.lower() for k in self.headers} & {k.lower() for k in self.headers_from_file}
        if clash:
            raise ValueError(f"header {sorted(clash)[0]!r} is in both headers and headers_from_file")

    def _check_compression(self) -> None:
        level = self.compression_params.level
        top = {"gzip": 9, "zstd": 22, "none": 0}[self.compression]
        if level and not 1 <= level <= top:
            raise ValueError(f"exporter.compression_params.level for {self.compression} must be 1-{top} or 0")
        if self.compression == "zstd" and importlib.util.find_spec("zstandard") is None:
            raise ValueError(
                "exporter.compression = 'zstd' needs the zstandard package: pip install 'edge-agent[zstd]'"
            )

    def urls(self) -> tuple[str, ...]:
        return (self.endpoint, *self.additional_endpoints)
