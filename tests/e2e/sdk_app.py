"""A real OpenTelemetry Python SDK app: sends spans, metrics and logs over OTLP/HTTP protobuf.

Run as a subprocess: ``python sdk_app.py ENDPOINT SPANS LOGS METRIC_SERIES``. The
metric reader exports exactly once (at shutdown), so the number of data points
is known: METRIC_SERIES counter points plus METRIC_SERIES histogram points.
Prints one line with what it sent.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def main(endpoint: str, spans: int, logs: int, series: int) -> None:
    resource = Resource.create({"service.name": "e2e-sdk-app"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        # The queue holds the whole burst: the agent answers only once the data is committed
        # (fsync), so a burst faster than that must not overflow the SDK's default 2048.
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), max_export_batch_size=512, max_queue_size=8192
        )
    )
    tracer = tracer_provider.get_tracer("e2e")
    for i in range(spans // 2):
        with (
            tracer.start_as_current_span("parent", attributes={"i": i}),
            tracer.start_as_current_span("child"),
        ):
            pass

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("e2e")
    counter = meter.create_counter("e2e.requests")
    histogram = meter.create_histogram("e2e.latency", unit="ms")
    for s in range(series):
        counter.add(s + 1, {"route": f"/r{s}"})
        histogram.record(s * 1.5, {"route": f"/r{s}"})

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"), max_export_batch_size=256, max_queue_size=8192
        )
    )
    log = logging.getLogger("e2e.app")
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
    log.setLevel(logging.INFO)
    for i in range(logs):
        log.info("request %d served", i)

    tracer_provider.shutdown()
    meter_provider.shutdown()
    logger_provider.shutdown()
    print(f"sent spans={spans // 2 * 2} logs={logs} points={2 * series}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
