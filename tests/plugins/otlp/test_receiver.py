"""The OTLP/HTTP receiver over real loopback sockets, with a recording plugin context."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import h11
import pytest
import trio
from google.rpc.status_pb2 import Status

from edge_agent import BufferFullError, ByteSize, Duration, Signal
from edge_agent.otlp import attributes
from edge_agent.otlp.builders import LogsBuilder, TracesBuilder
from edge_agent.testing import RecordingContext
from edge_agent_plugins.otlp import OtlpReceiver, OtlpReceiverConfig

PB = {"Content-Type": "application/x-protobuf"}
RESOURCE = attributes.resource({"service.name": "app"})


def _spans(n: int) -> bytes:
    b = TracesBuilder(RESOURCE, attributes.scope("s"))
    for i in range(n):
        b.span("op", trace_id=b"\1" * 16, span_id=(i + 1).to_bytes(8, "big"), start_ns=1, end_ns=2)
    return b.build().payload


def _logs(n: int) -> bytes:
    b = LogsBuilder(RESOURCE, attributes.scope("s"))
    b.lines([b"line %d" % i for i in range(n)], observed_time_ns=5)
    return b.build().payload


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def rpc_status(self) -> Status:
        return Status.FromString(self.body)


async def _exchange(stream: trio.abc.Stream, path: str, body: bytes, headers: dict[str, str]) -> Reply:
    conn = h11.Connection(h11.CLIENT)
    hdrs = [("Host", "x"), ("Content-Length", str(len(body))), *headers.items()]
    await stream.send_all(conn.send(h11.Request(method="POST", target=path, headers=hdrs)) or b"")
    await stream.send_all((conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b""))
    return await _read_reply(stream, conn)


async def _read_reply(stream: trio.abc.Stream, conn: h11.Connection) -> Reply:
    status, headers, chunks = 0, {}, []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode(): v.decode() for k, v in event.headers}
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return Reply(status, headers, b"".join(chunks))


@asynccontextmanager
async def running(ctx: RecordingContext, **overrides: object) -> AsyncIterator[tuple[str, int]]:
    config = replace(OtlpReceiverConfig(endpoint="127.0.0.1:0"), **overrides)  # type: ignore[arg-type]
    receiver = OtlpReceiver(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.run, ctx)
        yield _bound_port(nursery)
        nursery.cancel_scope.cancel()


def _bound_port(nursery: trio.Nursery) -> tuple[str, int]:
    # the receiver logs its address; find the listener through trio's task tree instead of parsing logs
    for task in _walk(nursery):
        frame_locals = task.coro.cr_frame.f_locals if task.coro.cr_frame else {}
        listeners = frame_locals.get("listeners")
        if listeners:
            host, port = listeners[0].socket.getsockname()[:2]
            return host, port
    raise AssertionError("no listener found")


def _walk(nursery: trio.Nursery) -> list[trio.lowlevel.Task]:
    tasks = []
    for task in nursery.child_tasks:
        tasks.append(task)
        for child in task.child_nurseries:
            tasks.extend(_walk(child))
    return tasks


async def post(addr: tuple[str, int], path: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    stream = await trio.open_tcp_stream(*addr)
    async with stream:
        return await _exchange(stream, path, body, PB if headers is None else headers)


@pytest.fixture
def ctx(tmp_path: Path) -> RecordingContext:
    return RecordingContext(tmp_path / "state.cbor", name="otlp")


async def test_protobuf_accepted_and_stored_unchanged(ctx: RecordingContext) -> None:
    """A valid protobuf request gets 200 with an empty body, and its bytes are emitted as received."""
    body = _spans(5)
    async with running(ctx) as addr:
        reply = await post(addr, "/v1/traces", body)
    assert (reply.status, reply.body) == (200, b"")
    assert [(f.signal, f.payload, f.records) for f in ctx.fragments] == [(Signal.TRACES, body, 5)]


async def test_json_gzip_request_is_converted(ctx: RecordingContext) -> None:
    """OTLP/JSON (gzip) is answered with {} and stored as protobuf with the same records."""
    doc = {
        "resourceLogs": [
            {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}, "severityNumber": 9}] * 3}]}
        ]
    }
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with running(ctx) as addr:
        reply = await post(addr, "/v1/logs", gzip.compress(json.dumps(doc).encode()), headers)
    assert (reply.status, reply.body, reply.headers["content-type"]) == (200, b"{}", "application/json")
    assert ctx.log_bodies() == ["hi", "hi", "hi"]


async def test_200_only_after_the_commit(ctx: RecordingContext) -> None:
    """The reply waits for the durable emit: a slow commit delays the 200, and the data is there first."""
    ctx.commit_delay = 0.3
    async with running(ctx) as addr:
        started = time.monotonic()
        reply = await post(addr, "/v1/logs", _logs(2))
        elapsed = time.monotonic() - started
        assert reply.status == 200 and ctx.records(Signal.LOGS) == 2
    assert elapsed >= 0.3


async def test_buffer_full_is_429_with_retry_after(ctx: RecordingContext) -> None:
    """BufferFullError becomes 429, Retry-After rounded up from the buffer's hint, Status body, counted."""
    ctx.refuse_with = BufferFullError("disk budget reached", retry_after=2.5)
    async with running(ctx) as addr:
        reply = await post(addr, "/v1/traces", _spans(1))
    assert (reply.status, reply.headers["retry-after"]) == (429, "3")
    assert reply.rpc_status().code == 8 and "disk budget" in reply.rpc_status().message
    assert ctx.events["backpressure"] == 1 and not ctx.fragments


async def test_slow_commit_is_503_after_backpressure_timeout(ctx: RecordingContext) -> None:
    """A buffer that does not commit within backpressure_timeout gets the client a retryable 503."""
    ctx.commit_delay = 5
    async with running(ctx, backpressure_timeout=Duration(0.2)) as addr:
        reply = await post(addr, "/v1/traces", _spans(1))
    assert (reply.status, reply.headers["retry-after"]) == (503, "1")
    assert reply.rpc_status().code == 14


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "event"),
    [
        ("/v1/traces", _spans(3)[:-4], PB, 400, "bad_data"),
        ("/v1/traces", b"\x00\xff" * 100, PB, 400, "bad_data"),
        ("/v1/traces", _spans(1), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ("/v1/traces", _spans(1), {**PB, "Content-Encoding": "br"}, 415, "unsupported_encoding"),
        ("/v1/other", _spans(1), PB, 404, "not_found"),
    ],
)
async def test_bad_requests_are_refused_and_counted(
    ctx: RecordingContext, path: str, body: bytes, headers: dict[str, str], status: int, event: str
) -> None:
    """Truncated protobuf, garbage, wrong content type or encoding and unknown paths: status, Status body, counter."""
    async with running(ctx) as addr:
        reply = await post(addr, path, body, headers)
    assert reply.status == status
    assert reply.rpc_status().message  # protobuf google.rpc.Status with a reason
    assert ctx.events[event] == 1 and not ctx.fragments


async def test_json_with_wrong_types_is_400_with_json_status(ctx: RecordingContext) -> None:
    """A JSON request with wrong value types gets a JSON google.rpc.Status naming the problem."""
    async with running(ctx) as addr:
        body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 12}]}]}]}'
        reply = await post(addr, "/v1/traces", body, {"Content-Type": "application/json"})
    assert reply.status == 400
    status = json.loads(reply.body)
    assert status["code"] == 3 and "name" in status["message"]


async def test_gzip_bomb_over_http_is_413(ctx: RecordingContext) -> None:
    """A small gzip body that inflates past max_decompressed_body is a 413, and the server keeps serving."""
    bomb = gzip.compress(b"\0" * (8 << 20), compresslevel=9)
    async with running(ctx, max_decompressed_body=ByteSize(1 << 20)) as addr:
        reply = await post(addr, "/v1/logs", bomb, {**PB, "Content-Encoding": "gzip"})
        assert reply.status == 413 and ctx.events["too_large"] == 1
        assert (await post(addr, "/v1/logs", _logs(1))).status == 200


async def test_100mb_body_is_413_before_it_is_read(ctx: RecordingContext) -> None:
    """A 100 MB Content-Length is refused with 413 at the headers; accepted data is unaffected."""
    async with running(ctx) as addr:
        assert (await post(addr, "/v1/logs", _logs(4))).status == 200
        stream = await trio.open_tcp_stream(*addr)
        async with stream:
            conn = h11.Connection(h11.CLIENT)
            head = [("Host", "x"), ("Content-Length", str(100 << 20)), *PB.items()]
            await stream.send_all(
                conn.send(h11.Request(method="POST", target="/v1/logs", headers=head)) or b""
            )
            await stream.send_all(conn.send(h11.Data(data=b"\0" * (256 << 10))) or b"")
            reply = await _read_reply(stream, conn)
        assert reply.status == 413
        assert (await post(addr, "/v1/logs", _logs(1))).status == 200
    assert ctx.records(Signal.LOGS) == 5


async def test_bearer_token_is_required_when_configured(ctx: RecordingContext, tmp_path: Path) -> None:
    """With a token file, requests without the right bearer token get 401; the right one gets 200."""
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    token_file.chmod(0o600)
    async with running(ctx, bearer_token_file=str(token_file)) as addr:
        missing = await post(addr, "/v1/logs", _logs(1))
        wrong = await post(addr, "/v1/logs", _logs(1), {**PB, "Authorization": "Bearer nope"})
        right = await post(addr, "/v1/logs", _logs(1), {**PB, "Authorization": "Bearer s3cret"})
    assert (missing.status, missing.headers["www-authenticate"]) == (401, "Bearer")
    assert (wrong.status, right.status) == (401, 200)
    assert ctx.events["unauthorized"] == 2 and ctx.records(Signal.LOGS) == 1


async def test_slowloris_headers_time_out(ctx: RecordingContext) -> None:
    """A client that trickles its headers is answered 408 and disconnected after header_timeout."""
    async with running(ctx, header_timeout=Duration(0.3)) as addr:
        stream = await trio.open_tcp_stream(*addr)
        async with stream:
            await stream.send_all(b"POST /v1/logs HTTP/1.1\r\nHost: x\r\n")
            with trio.fail_after(5):
                data = b""
                while chunk := await stream.receive_some(4096):
                    data += chunk
        assert data.startswith(b"HTTP/1.1 408")


async def test_connection_limit_answers_503(ctx: RecordingContext) -> None:
    """Connections beyond max_connections are answered 503 and closed; held ones still work."""
    async with running(ctx, max_connections=2) as addr:
        held = [await trio.open_tcp_stream(*addr) for _ in range(2)]
        await trio.sleep(0.05)
        extra = await trio.open_tcp_stream(*addr)
        with trio.fail_after(5):
            data = await extra.receive_some(4096)
        assert data.startswith(b"HTTP/1.1 503")
        reply = await _exchange(held[0], "/v1/logs", _logs(1), PB)
        assert reply.status == 200
        for stream in [*held, extra]:
            await stream.aclose()


async def test_unix_socket_only(ctx: RecordingContext, tmp_path: Path) -> None:
    """With endpoint empty and unix_socket set, the receiver serves OTLP on the socket."""
    path = str(tmp_path / "otlp.sock")
    config = OtlpReceiverConfig(endpoint="", unix_socket=path)
    async with trio.open_nursery() as nursery:
        await nursery.start(OtlpReceiver(config).run, ctx)
        stream = await trio.open_unix_socket(path)
        async with stream:
            reply = await _exchange(stream, "/v1/traces", _spans(2), PB)
        nursery.cancel_scope.cancel()
    assert reply.status == 200 and ctx.records(Signal.TRACES) == 2


def test_config_needs_somewhere_to_listen() -> None:
    """An empty endpoint without a unix socket is a config error that says what to set."""
    with pytest.raises(ValueError, match="set endpoint or unix_socket"):
        OtlpReceiverConfig(endpoint="")


async def test_rejections_are_counted_every_time_but_logged_once(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A client repeating bad requests is counted each time and warned about once per 10 s."""
    async with running(ctx) as addr:
        for _ in range(3):
            assert (await post(addr, "/v1/traces", b"\xff" * 10)).status == 400
    assert ctx.events["bad_data"] == 3
    assert sum("rejected /v1/traces" in r.getMessage() for r in caplog.records) == 1
