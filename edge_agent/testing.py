"""Test helpers for plugin authors and the agent's own tests.

:class:`OtlpSink` is a real OTLP/HTTP server (h11 on trio, on loopback) that
decodes every request with ``opentelemetry-proto`` and counts what arrived:
spans, data points and log records per signal, plus resource attributes and
metric names. It can be told to answer with a status (429 with Retry-After,
503, 400) to exercise retry paths. Use it as the upstream in tests, or as
the counting sink behind a real collector (rotel forwards to it).

:class:`RecordingContext` is a :class:`~edge_agent.PluginContext` for
testing a plugin without an agent: it keeps what the plugin emits (decoded
on demand), counts ``ctx.count`` events, keeps state in a real state file,
and can be told to refuse data with :class:`~edge_agent.BufferFullError`
(to exercise backpressure) or to hold each durable emit for a while.

It can also run standalone: ``python -m edge_agent.testing sink --port 4318``
prints a line per request.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from edge_agent.errors import BufferFullError
from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits
from edge_agent.otlp import attributes
from edge_agent.otlp.fragment import Fragment, Priority, Signal
from edge_agent.otlp.validate import _request_class, count_records
from edge_agent.runtime.clock import AgentClock
from edge_agent.runtime.context import ContextBase
from edge_agent.runtime.state import CborStateStore

__all__ = ["OtlpSink", "Received", "RecordingContext", "count_records", "decode_request"]


def decode_request(signal: Signal, payload: bytes) -> Any:
    """Parse an uncompressed ``Export*ServiceRequest`` (a fresh message each time)."""
    return _request_class(signal).FromString(payload)


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


class RecordingContext(ContextBase):
    """A :class:`~edge_agent.PluginContext` that records instead of buffering.

    ``fragments`` holds everything emitted, in order; ``events`` the
    ``ctx.count`` totals. Set ``refuse_with`` to a :class:`BufferFullError`
    to make every ``emit`` raise it (a full buffer), or ``commit_delay`` to
    make each durable ``emit`` take that long (a slow disk). State lives in
    ``state_path`` (a real CBOR state file, so restarts can be tested by
    building a new context on the same path).
    """

    def __init__(
        self,
        state_path: Path,
        *,
        name: str = "test",
        priority: Priority = Priority.NORMAL,
        resource: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            name=name,
            priority=priority,
            state=CborStateStore(Path(state_path)),
            clock=AgentClock(),
            resource=attributes.resource(resource or {"service.name": "edge-agent-test"}),
            scope=attributes.scope(f"edge_agent.{name}", "test"),
        )
        self.fragments: list[Fragment] = []
        self.events: Counter[str] = Counter()
        self.refuse_with: BufferFullError | None = None
        self.commit_delay = 0.0
        self._changed = trio.Event()

    @property
    def state(self) -> CborStateStore:
        assert isinstance(self._state, CborStateStore)
        return self._state

    def count(self, event: str, amount: int = 1) -> None:
        if amount:
            self.events[event] += amount

    async def emit(self, fragment: Fragment, *, durable: bool = False) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        if durable and self.commit_delay:
            await trio.sleep(self.commit_delay)
        self.fragments.append(fragment)
        self._changed.set()
        await trio.lowlevel.checkpoint()

    def records(self, signal: Signal) -> int:
        """Records emitted so far for ``signal`` (from the fragment envelopes)."""
        return sum(f.records for f in self.fragments if f.signal is signal)

    def decoded(self, signal: Signal) -> list[Any]:
        """Every emitted fragment of ``signal``, parsed into a fresh message."""
        return [decode_request(signal, f.payload) for f in self.fragments if f.signal is signal]

    def decoded_metrics(self) -> list[Any]:
        """Every emitted metrics fragment, parsed."""
        return self.decoded(Signal.METRICS)

    def log_bodies(self) -> list[str]:
        """The string bodies of every emitted log record, in order."""
        return [
            record.body.string_value
            for message in self.decoded(Signal.LOGS)
            for rl in message.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]

    async def wait_for(self, signal: Signal, count: int) -> None:
        """Wait until at least ``count`` records of ``signal`` were emitted (use under fail_after)."""
        while self.records(signal) < count:
            self._changed = trio.Event()
            await self._changed.wait()


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
