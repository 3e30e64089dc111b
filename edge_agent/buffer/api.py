"""The contract between the pipeline, the buffer and the exporter.

Writers (the pipeline) hand in :class:`~edge_agent.otlp.fragment.Fragment`
objects; the reader (the exporter) takes :class:`Batch` objects and settles
each one exactly once with ``ack`` (delivered), ``release`` (not delivered,
try again later) or ``drop`` (permanently refused upstream; counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from edge_agent.otlp.fragment import Fragment, Priority, Signal

Encoding = Literal["identity", "gzip", "zstd"]


@dataclass(frozen=True, eq=False)
class Batch:
    """One upstream request's worth of data of a single signal.

    ``body`` is a serialized ``Export*ServiceRequest`` in ``encoding``
    (``identity`` = uncompressed); ``raw_size`` is its uncompressed size.
    ``token`` is the buffer's own handle for settling the batch.
    """

    signal: Signal
    body: bytes
    encoding: Encoding
    records: int
    raw_size: int
    priority: Priority
    first_ns: int = 0
    last_ns: int = 0
    token: object = field(default=None, repr=False)


class BufferWriter(Protocol):
    def offer(self, fragment: Fragment) -> bool:
        """Accept ``fragment`` without waiting; False means "full, skip this one" (counted by caller)."""
        ...

    async def append(self, fragment: Fragment, *, durable: bool = False) -> None:
        """Accept ``fragment``, waiting under backpressure; with ``durable`` wait for the commit."""
        ...


class BufferReader(Protocol):
    async def next_batch(self, *, max_bytes: int) -> Batch:
        """Wait for data and return the next batch to send (at most ``max_bytes`` raw, unless
        a single fragment is larger)."""
        ...

    def ack(self, batch: Batch) -> None: ...

    def release(self, batch: Batch) -> None: ...

    def drop(self, batch: Batch, reason: str) -> None: ...
