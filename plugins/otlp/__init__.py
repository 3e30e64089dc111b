"""OTLP/HTTP receiver: applications on the device send traces, metrics and logs to the agent.

Theory of operation: an :class:`~edge_agent.HttpServer` (h11 on trio, every
resource bounded: header and body bytes, header/body/idle timeouts,
concurrent connections) hands each whole request to :class:`OtlpHandler`.
The handler checks the path, method and bearer token, negotiates the content
type and encoding, decompresses with a cap and validates (in a worker thread
for large bodies, see :mod:`.decode`), then emits the protobuf bytes with
``durable=True``: the client gets 200 only once the data is committed to the
buffer. A full buffer (``BufferFullError``) becomes 429 with the buffer's
Retry-After; a buffer that does not commit within ``backpressure_timeout``
becomes 503 with Retry-After. Both are retryable for OTLP clients, so
nothing is lost, only delayed. Every rejection is counted with ``ctx.count``
(and logged at most once per 10 s per kind).

Memory bound: request bodies are held whole, so the worst case is about
``max_connections x max_request_body`` (64 MiB with the defaults) plus
``max_concurrent_decodes x max_decompressed_body`` (32 MiB) while decoding.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass

import trio

from edge_agent import (
    BufferFullError,
    ByteSize,
    Duration,
    Fragment,
    HttpServer,
    PluginContext,
    Receiver,
    Reply,
    Request,
    ServerLimits,
    Signal,
    check_listener_exposure,
    read_secret_line,
    setting,
)

from . import decode
from .decode import JSON, PROTOBUF, Rejected

_SIGNALS = {s.http_path: s for s in Signal}
_THREAD_THRESHOLD = 64 * 1024  # bodies larger than this are decoded off the event loop
_WARN_EVERY = 10.0  # seconds between warnings for the same kind of rejection


def _check_endpoint(value: str) -> None:
    if not value:
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(
            f"expected host:port such as 127.0.0.1:4318 (or empty to disable TCP), got {value!r}"
        )


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class OtlpReceiverConfig:
    endpoint: str = setting(
        "127.0.0.1:4318",
        help="TCP host:port to listen on (loopback by default); empty disables TCP",
        check=_check_endpoint,
    )
    unix_socket: str = setting("", help="also (or only) listen on this unix socket path")
    unix_socket_mode: int = setting(0o660, help="file mode of the unix socket (e.g. 0o660)")
    max_request_body: ByteSize = setting(
        ByteSize(4 * 1024 * 1024), help="largest request body as sent (compressed); bigger gets 413"
    )
    max_decompressed_body: ByteSize = setting(
        ByteSize(16 * 1024 * 1024), help="largest body after decompression (gzip bombs); bigger gets 413"
    )
    max_connections: int = setting(
        16, help="concurrent connections; more are answered 503", check=_check_positive
    )
    max_concurrent_decodes: int = setting(
        2,
        help="bodies decompressed and validated at once (each may hold max_decompressed_body)",
        check=_check_positive,
    )
    header_timeout: Duration = setting(Duration(10.0), help="time allowed to send the request headers")
    body_timeout: Duration = setting(Duration(30.0), help="time allowed to send the whole body")
    idle_timeout: Duration = setting(Duration(60.0), help="keep-alive connections idle longer are closed")
    send_timeout: Duration = setting(
        Duration(30.0), help="time a client has to read its reply", check=_check_positive
    )
    max_request_headers: ByteSize = setting(
        ByteSize(16 * 1024), help="largest request head (line and headers); bigger gets 431"
    )
    backpressure_timeout: Duration = setting(
        Duration(10.0),
        help="longest a request waits for the buffer to commit before 503",
        check=_check_positive,
    )
    bearer_token: str = setting(
        "", help="require 'Authorization: Bearer <token>' (prefer bearer_token_file)", secret=True
    )
    bearer_token_file: str = setting(
        "", help="file holding the bearer token (first line; mode 0600)", secret_file=True
    )

    def __post_init__(self) -> None:
        if not self.endpoint and not self.unix_socket:
            raise ValueError("set endpoint or unix_socket (or both): the receiver needs somewhere to listen")
        if self.bearer_token and self.bearer_token_file:
            raise ValueError("set bearer_token or bearer_token_file, not both")
        if self.endpoint:
            check_listener_exposure(
                self.endpoint.rpartition(":")[0],
                authenticated=bool(self.bearer_token or self.bearer_token_file),
                what="the OTLP receiver",
                remedy="bearer_token_file (a file holding a bearer token, mode 0600)",
            )

    def limits(self) -> ServerLimits:
        return ServerLimits(
            max_header_bytes=int(self.max_request_headers),
            max_body_bytes=int(self.max_request_body),
            header_timeout=float(self.header_timeout),
            body_timeout=float(self.body_timeout),
            idle_timeout=float(self.idle_timeout),
            send_timeout=float(self.send_timeout),
            max_connections=self.max_connections,
        )


class OtlpHandler:
    """Turns one HTTP request into a committed fragment, or a precise refusal."""

    def __init__(self, ctx: PluginContext, config: OtlpReceiverConfig, token: bytes = b"") -> None:
        self.ctx = ctx
        self.config = config
        self._expected_auth = b"Bearer " + token if token else b""
        # bounds the memory of decoding: at most this many decompressed bodies exist at once
        self._decoders = trio.CapacityLimiter(config.max_concurrent_decodes)
        self._last_warning: dict[str, float] = {}

    def _log_rejection(self, request: Request, exc: Rejected) -> None:
        """One warning per kind of rejection per 10 s: a misbehaving client must not flood the log."""
        if exc.status >= 500 or exc.status == 429:
            self.ctx.logger.debug("refused %s: %s", request.path, exc)
            return
        now = trio.current_time()
        if now - self._last_warning.get(exc.event, -_WARN_EVERY) >= _WARN_EVERY:
            self._last_warning[exc.event] = now
            self.ctx.logger.warning("rejected %s from %s: %s", request.path, request.peer or "?", exc)

    async def handle(self, request: Request) -> Reply:
        kind = JSON if (request.header("content-type") or "").lower().startswith(JSON) else PROTOBUF
        try:
            return await self._handle(request)
        except Rejected as exc:
            self.ctx.count(exc.event)
            self._log_rejection(request, exc)
            return _status_reply(exc, kind)

    async def _handle(self, request: Request) -> Reply:
        signal = _SIGNALS.get(request.path)
        if signal is None:
            raise Rejected(
                404,
                decode.NOT_FOUND,
                f"unknown path {request.path}; use /v1/traces|metrics|logs",
                event="not_found",
            )
        if request.method != "POST":
            raise Rejected(
                405,
                decode.UNIMPLEMENTED,
                f"method {request.method} not allowed; use POST",
                event="bad_method",
            )
        self._authorize(request)
        kind = decode.media_type(request.header("content-type"))
        encoding = decode.check_encoding(request.header("content-encoding"))
        limit = int(self.config.max_decompressed_body)
        if len(request.body) > _THREAD_THRESHOLD or encoding != "identity":
            async with self._decoders:
                decoded = await trio.to_thread.run_sync(
                    decode.decode, signal, request.body, kind, encoding, limit
                )
        else:
            decoded = decode.decode(signal, request.body, kind, encoding, limit)
        if decoded.records:
            await self._commit(Fragment(signal, decoded.payload, decoded.records))
        body = b"{}" if kind == JSON else b""  # an empty Export*ServiceResponse: full success
        return Reply(200, body, content_type=kind)

    def _authorize(self, request: Request) -> None:
        if not self._expected_auth:
            return
        given = (request.header("authorization") or "").encode("latin-1")
        if not hmac.compare_digest(given, self._expected_auth):  # constant time
            raise Rejected(401, decode.UNAUTHENTICATED, "missing or wrong bearer token", event="unauthorized")

    async def _commit(self, fragment: Fragment) -> None:
        try:
            with trio.move_on_after(float(self.config.backpressure_timeout)) as scope:
                await self.ctx.emit(fragment, durable=True)
        except BufferFullError as exc:
            raise _Backpressure(429, exc.retry_after, f"buffer is full: {exc}") from None
        if scope.cancelled_caught:
            timeout = float(self.config.backpressure_timeout)
            raise _Backpressure(503, 1.0, f"buffer did not commit within {timeout:g}s")


class _Backpressure(Rejected):
    def __init__(self, status: int, retry_after: float, message: str) -> None:
        code = decode.RESOURCE_EXHAUSTED if status == 429 else decode.UNAVAILABLE
        super().__init__(status, code, message, event="backpressure")
        self.retry_after = retry_after


def _status_reply(exc: Rejected, kind: str) -> Reply:
    headers: tuple[tuple[str, str], ...] = ()
    if isinstance(exc, _Backpressure):
        headers = (("Retry-After", str(max(1, math.ceil(exc.retry_after)))),)
    elif exc.status == 401:
        headers = (("WWW-Authenticate", "Bearer"),)
    elif exc.status == 405:
        headers = (("Allow", "POST"),)
    return Reply(exc.status, decode.status_body(exc.code, str(exc), kind), content_type=kind, headers=headers)


class OtlpReceiver(Receiver[OtlpReceiverConfig]):
    """OTLP/HTTP (protobuf and JSON, gzip and zstd) on loopback and/or a unix socket."""

    name = "otlp"
    version = "1.0.0"
    description = "OTLP/HTTP receiver: /v1/traces, /v1/metrics, /v1/logs; 200 only once committed"
    config_class = OtlpReceiverConfig

    async def run(self, ctx: PluginContext, *, task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        token = await trio.to_thread.run_sync(_read_token, cfg, ctx.name)
        # server-level refusals (timeouts, oversized heads, too many connections) are counted too
        server = HttpServer(
            OtlpHandler(ctx, cfg, token).handle, cfg.limits(), name="otlp", on_refusal=ctx.count
        )
        async with trio.open_nursery() as nursery:
            where = []
            if cfg.endpoint:
                host, _, port = cfg.endpoint.rpartition(":")
                bound = await nursery.start(server.serve_tcp, host.strip("[]"), int(port))
                where.append(f"http://{bound[0]}:{bound[1]}")
            if cfg.unix_socket:
                await nursery.start(_serve_unix, server, cfg.unix_socket, cfg.unix_socket_mode)
                where.append(f"unix:{cfg.unix_socket}")
            ctx.logger.info("OTLP/HTTP receiver listening on %s", ", ".join(where))
            task_status.started()


async def _serve_unix(
    server: HttpServer, path: str, mode: int, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    await server.serve_unix(path, mode=mode, task_status=task_status)


def _read_token(cfg: OtlpReceiverConfig, instance: str) -> bytes:
    """The token (blocking): the file is refused when other users may read it (see SECURITY.md)."""
    if cfg.bearer_token_file:
        key = f"plugins.{instance}.bearer_token_file"
        return read_secret_line(cfg.bearer_token_file, key=key, what="bearer token file").encode()
    return cfg.bearer_token.encode()
