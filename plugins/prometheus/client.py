"""A minimal HTTP/1.1 GET for scraping: h11 over trio, bounded body, gzip with a cap.

The caller bounds the time (``trio.fail_after(scrape_timeout)``); this
module bounds the bytes and says precisely what went wrong.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio

ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


class ScrapeError(Exception):
    """The target could not be scraped (the message says why, for logs and the ``up`` metric)."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL such as http://127.0.0.1:9100/metrics, got {url!r}")
        path = (parts.path or "/metrics") + (f"?{parts.query}" if parts.query else "")
        return cls(url, parts.hostname, parts.port or 80, path)

    @property
    def instance(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Page:
    status: int
    content_type: str
    body: bytes


async def fetch(target: Target, *, max_bytes: int, user_agent: str) -> Page:
    try:
        stream = await trio.open_tcp_stream(target.host, target.port)
    except OSError as exc:
        raise ScrapeError(f"cannot connect to {target.instance}: {exc.strerror or exc}") from None
    async with stream:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)
        request = h11.Request(
            method="GET",
            target=target.path,
            headers=[
                ("Host", target.instance),
                ("Accept", ACCEPT),
                ("Accept-Encoding", "gzip"),
                ("User-Agent", user_agent),
                ("Connection", "close"),
            ],
        )
        try:
            await stream.send_all((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
            return await _read(stream, conn, max_bytes)
        except (trio.BrokenResourceError, OSError) as exc:
            raise ScrapeError(f"connection to {target.instance} broke: {exc}") from None
        except h11.RemoteProtocolError as exc:
            raise ScrapeError(f"{target.instance} sent a malformed HTTP response: {exc}") from None


async def _read(stream: trio.abc.Stream, conn: h11.Connection, max_bytes: int) -> Page:
    status, headers, chunks, size = 0, {}, [], 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > max_bytes:
                raise ScrapeError(f"response is larger than max_response_size ({max_bytes} bytes)")
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    body = b"".join(chunks)
    if headers.get("content-encoding", "").lower() == "gzip":
        body = _gunzip(body, max_bytes)
    return Page(status, headers.get("content-type", ""), body)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ScrapeError(f"response is not valid gzip: {exc}") from None
    if len(data) > limit:
        raise ScrapeError(f"decompressed response is larger than max_response_size ({limit} bytes)")
    return data
