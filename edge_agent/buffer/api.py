"""The contract between the pipeline, the buffer and the exporter.

Writers (the pipeline) hand in :class:`~edge_agent.otlp.fragment.Fragment`
objects; the reader (the exporter) takes :class:`Batch` objects and settles
each one exactly once with ``ack`` (delivered), ``release`` (not delivered,
try again later) or ``drop`` (permanently refused upstream; counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from edge_agent.otlp.fragment import Fragment, Priority, Signal

if TYPE_CHECKING:
    import trio

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
        """Accept ``fragment``, waiting under backpressure; with ``durable`` wait for the commit.

        Raises :class:`~edge_agent.errors.BufferFullError` (with ``retry_after``) when no room
        appears within the buffer's bounded wait, or the commit could not be made durable.
        """
        ...


class BufferReader(Protocol):
    async def next_batch(self, *, max_bytes: int) -> Batch:
        """Wait for data and return the next batch to send (at most ``max_bytes`` raw, unless
        a single fragment is larger)."""
        ...

    def ack(self, batch: Batch) -> None: ...

    def release(self, batch: Batch) -> None: ...

    def drop(self, batch: Batch, reason: str) -> None: ...


class ManagedBuffer(BufferWriter, BufferReader, Protocol):
    """What the agent needs of a buffer besides reading and writing (memory or disk)."""

    kind: str
    max_bytes: int

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Open the buffer (recover a disk buffer) and run its background work until cancelled."""
        ...

    async def flush(self) -> None:
        """Make everything accepted so far as durable as the buffer can (commit open batches)."""
        ...

    async def wait_drained(self) -> None:
        """Return once nothing is queued or in flight."""
        ...

    def queued_bytes(self) -> int: ...

    def queued_records(self) -> dict[str, int]: ...

    def status(self) -> dict[str, Any]:
        """The ``queue`` section of ``/status``."""
        ...

    def use_wire_encoding(self, encoding: Encoding) -> None:
        """Produce batch bodies in ``encoding`` from now on (the exporter's compression changed)."""
        ...
