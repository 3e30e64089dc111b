"""Test helpers for plugin authors and the agent's own tests.

:class:`OtlpSink` is a real OTLP/HTTP server (h11 on trio, on loopback) that
decodes every request with ``opentelemetry-proto`` and counts what arrived:
spans, data points and log records per signal, plus resource attributes and
metric names. It can be told to answer with a status (429 with Retry-After,
503, 400) to exercise retry paths. Use it as the upstream in tests, or as
the counting sink behind a real collector (rotel forwards to it).

It can also run standalone: ``python -m edge_agent.testing sink --port 4318``
prints a line per request.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits
from edge_agent.otlp.fragment import Signal

__all__ = ["OtlpSink", "Received", "count_records", "decode_request"]


def _request_class(signal: Signal) -> Any:
    if signal is Signal.TRACES:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        return ExportTraceServiceRequest
    if signal is Signal.METRICS:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        return ExportMetricsServiceRequest
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return ExportLogsServiceRequest


def decode_request(signal: Signal, payload: bytes) -> Any:
    """Parse an uncompressed ``Export*ServiceRequest`` (a fresh message each time)."""
    return _request_class(signal).FromString(payload)


def count_records(signal: Signal, message: Any) -> int:
    """Spans, metric data points or log records in a parsed request."""
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points) if kind else 0
    return total


def _resources(signal: Signal, message: Any) -> list[Any]:
    field_name = {
        Signal.TRACES: "resource_spans",
        Signal.METRICS: "resource_metrics",
        Signal.LOGS: "resource_logs",
    }
    return [group.resource for group in getattr(message, field_name[signal])]


def _attributes(resource: Any) -> dict[str, Any]:
    out = {}
    for kv in resource.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


@dataclass
class Received:
    """One decoded request."""

    signal: Signal
    records: int
    message: Any
    headers: dict[str, str]
    body_bytes: int


@dataclass
class OtlpSink:
    """A counting OTLP/HTTP upstream. ``records[Signal.METRICS]`` etc. count what arrived."""

    limits: ServerLimits = field(default_factory=lambda: ServerLimits(max_body_bytes=64 << 20))
    records: Counter[Signal] = field(default_factory=Counter)
    requests: list[Received] = field(default_factory=list)
    metric_names: Counter[str] = field(default_factory=Counter)
    resource_attributes: list[dict[str, Any]] = field(default_factory=list)
    address: tuple[str, int] | None = None
    # Set to make the sink answer every request with this status (and not count it).
    fail_with: int | None = None
    retry_after: str | None = None
    keep_messages: bool = True

    def __post_init__(self) -> None:
        self._changed = trio.Event()

    @property
    def endpoint(self) -> str:
        assert self.address is not None, "start the sink first"
        return f"http://{self.address[0]}:{self.address[1]}"

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        server = HttpServer(self.handle, self.limits, name="otlp-sink")
        async with trio.open_nursery() as nursery:
            self.address = await nursery.start(server.serve_tcp, host, port)
            task_status.started()

    async def wait_for(self, signal: Signal, count: int) -> None:
        """Wait until at least ``count`` records of ``signal`` arrived (use under fail_after)."""
        while self.records[signal] < count:
            self._changed = trio.Event()
            await self._changed.wait()

    async def handle(self, request: Request) -> Reply:
        signal = {s.http_path: s for s in Signal}.get(request.path)
        if request.method != "POST" or signal is None:
            return Reply.text(404, "unknown path\n")
        if self.fail_with is not None:
            extra = (("Retry-After", self.retry_after),) if self.retry_after else ()
            return Reply.text(self.fail_with, "told to fail\n", headers=extra)
        body = request.body
        if (request.header("content-encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        elif (request.header("content-encoding") or "").lower() == "zstd":
            import zstandard

            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        try:
            message = decode_request(signal, body)
        except Exception as exc:  # malformed protobuf: what a real collector answers
            return Reply.text(400, f"cannot decode: {exc}\n")
        records = count_records(signal, message)
        self.records[signal] += records
        if signal is Signal.METRICS:
            for rm in message.resource_metrics:
                for sm in rm.scope_metrics:
                    self.metric_names.update(m.name for m in sm.metrics)
        self.resource_attributes.extend(_attributes(r) for r in _resources(signal, message))
        headers = {k.decode(): v.decode("latin-1") for k, v in request.headers}
        self.requests.append(
            Received(signal, records, message if self.keep_messages else None, headers, len(request.body))
        )
        self._changed.set()
        return Reply(200, b"", content_type="application/x-protobuf")


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_agent.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    sink = sub.add_parser("sink", help="run a counting OTLP/HTTP sink")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=4318)
    args = parser.parse_args(argv)

    async def run() -> None:
        otlp = OtlpSink(keep_messages=False)
        async with trio.open_nursery() as nursery:
            await nursery.start(otlp.serve, args.host, args.port)
            print(f"listening on {otlp.endpoint}", flush=True)
            seen = 0
            while True:
                await trio.sleep(1)
                if len(otlp.requests) != seen:
                    seen = len(otlp.requests)
                    totals = ", ".join(f"{s.value}={n}" for s, n in otlp.records.items())
                    print(f"{seen} requests; records: {totals}", flush=True)

    try:
        trio.run(run)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(_main())
