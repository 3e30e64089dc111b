"""A real OpenTelemetry SDK app that logs personal data: ``python sdk_pii_app.py ENDPOINT COUNT``.

The bearer token comes from ``OTEL_EXPORTER_OTLP_HEADERS`` (the SDK's own
setting), as an operator would configure an application.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource


def main(endpoint: str, count: int) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "pii-app"}))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"))
    )
    log = logging.getLogger("pii.app")
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    log.setLevel(logging.INFO)
    for i in range(count):
        log.info(
            "user alice%d@example.com logged in from 10.1.2.%d", i, i % 250, extra={"client.ip": "192.0.2.7"}
        )
    provider.shutdown()
    print(f"sent logs={count}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
