"""A misbehaving OTLP/HTTP upstream on real loopback sockets, scripted per request.

Each request the server sees takes the next behaviour from ``script``
(``"ok"`` once the script is used up). Only ``ok`` and ``partial`` hand the
request to the embedded :class:`~edge_agent.testing.OtlpSink`, which counts
what a collector would have stored; every other behaviour stores nothing,
so "delivered + counted drops == offered" is the no-loss check.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import h11
import trio

from edge_agent.httpserver import Request
from edge_agent.otlp import wire
from edge_agent.testing import OtlpSink


@dataclass(frozen=True)
class Reply:
    """Answer with ``status``, ``headers`` and ``body`` (nothing is stored)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str = "application/x-protobuf"


@dataclass(frozen=True)
class Partial:
    """Store the request but report ``rejected`` records as rejected (partial_success)."""

    rejected: int
    message: str = "some records were invalid"


# Plain-string behaviours:
#   ok              store and answer 200 with an empty body
#   ok_close        like ok, then close the (idle) connection, as servers do after their idle timeout
#   stall           read the request, then answer nothing (until the client gives up)
#   trickle         answer one byte every 0.2 s (slowloris towards the client)
#   reset_request   read only part of the request, then reset the connection (RST)
#   reset_response  read the request, send half a response, then reset
#   garbage         answer bytes that are not HTTP
#   close           close without answering
Behaviour = str | Reply | Partial


def _rst(stream: trio.SocketStream) -> None:
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def partial_body(rejected: int, message: str) -> bytes:
    inner = wire.varint_field(1, rejected) + wire.str_field(2, message)
    return wire.len_field(1, inner)


@dataclass
class FaultyUpstream:
    script: list[Behaviour] = field(default_factory=list)
    sink: OtlpSink = field(default_factory=OtlpSink)
    seen: list[str] = field(default_factory=list)
    body_sizes: list[int] = field(default_factory=list)
    port: int = 0
    rejected: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, behaviours: Sequence[Behaviour]) -> None:
        self.script.extend(behaviours)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_head(stream, conn)
                if request is None:
                    return
                behaviour = self.script.pop(0) if self.script else "ok"
                self.seen.append(behaviour if isinstance(behaviour, str) else type(behaviour).__name__)
                if behaviour == "reset_request":
                    _rst(stream)
                    return
                body = await self._read_body(stream, conn)
                self.body_sizes.append(len(body))
                if not await self._answer(stream, conn, behaviour, request, body):
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, h11.RemoteProtocolError):
            return
        finally:
            await stream.aclose()

    async def _next(self, stream: trio.SocketStream, conn: h11.Connection) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await stream.receive_some(65536))

    async def _read_head(self, stream: trio.SocketStream, conn: h11.Connection) -> h11.Request | None:
        event = await self._next(stream, conn)
        return event if isinstance(event, h11.Request) else None

    async def _read_body(self, stream: trio.SocketStream, conn: h11.Connection) -> bytes:
        chunks = []
        while True:
            event = await self._next(stream, conn)
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)

    async def _send(self, stream: trio.SocketStream, conn: h11.Connection, reply: Reply) -> None:
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))]
        data = conn.send(h11.Response(status_code=reply.status, headers=[*headers, *reply.headers]))
        data += conn.send(h11.Data(data=reply.body)) + conn.send(h11.EndOfMessage())  # type: ignore[operator]
        await stream.send_all(data)  # type: ignore[arg-type]

    async def _store(self, request: h11.Request, body: bytes) -> None:
        headers = tuple((bytes(k), bytes(v)) for k, v in request.headers)
        target = request.target.decode()
        await self.sink.handle(Request(request.method.decode(), target, headers, body))

    async def _answer(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection,
        behaviour: Behaviour,
        request: h11.Request,
        body: bytes,
    ) -> bool:
        """Act out ``behaviour``; False when the connection is finished."""
        if behaviour in ("ok", "ok_close"):
            await self._store(request, body)
            await self._send(stream, conn, Reply(200))
            if behaviour == "ok_close":
                await trio.sleep(0.05)  # idle for a moment, then hang up
                return False
        elif isinstance(behaviour, Partial):
            await self._store(request, body)
            self.rejected += behaviour.rejected
            await self._send(
                stream, conn, Reply(200, body=partial_body(behaviour.rejected, behaviour.message))
            )
        elif isinstance(behaviour, Reply):
            await self._send(stream, conn, behaviour)
        elif behaviour == "stall":
            await trio.sleep_forever()
        elif behaviour == "trickle":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n":
                await stream.send_all(bytes([byte]))
                await trio.sleep(0.2)
            return False
        elif behaviour == "reset_response":
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            _rst(stream)
            return False
        elif behaviour == "garbage":
            await stream.send_all(b"\x16\x03\x01\x00\xffTHIS IS NOT HTTP\r\n\r\n")
            return False
        elif behaviour == "close":
            return False
        else:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        return True
