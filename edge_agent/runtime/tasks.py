"""Tasks that can be stopped one at a time inside a long-lived nursery.

Live reconfiguration stops and starts single plugin instances and swaps the
exporter while the rest of the nursery keeps running. A
:class:`StoppableTask` wraps one such task in its own cancel scope:
``await task.stop()`` cancels it and returns once it has finished
unwinding (its ``finally`` blocks ran, a batch in hand went back to the
buffer). The task reports ``started`` to the nursery at once;
``ready`` is set when the wrapped function reports *its* started, so callers
can wait for readiness with their own deadline instead of blocking in
``nursery.start``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

TaskFn = Callable[..., Awaitable[Any]]


class _Ready:
    """The ``task_status`` handed to the wrapped function."""

    def __init__(self, event: trio.Event) -> None:
        self._event = event

    def started(self, value: Any = None) -> None:
        self._event.set()


class StoppableTask:
    def __init__(self, name: str, fn: TaskFn) -> None:
        self.name = name
        self._fn = fn
        self._scope = trio.CancelScope()
        self.ready = trio.Event()
        self.done = trio.Event()

    @classmethod
    async def start(cls, nursery: trio.Nursery, name: str, fn: TaskFn) -> StoppableTask:
        """Start ``fn(task_status=...)`` in ``nursery``; returns without waiting for readiness."""
        task = cls(name, fn)
        await nursery.start(task._run)
        return task

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with self._scope:
                task_status.started()
                await self._fn(task_status=_Ready(self.ready))
        finally:
            self.done.set()

    async def stop(self) -> None:
        """Cancel the task and wait until it has finished."""
        self._scope.cancel()
        await self.done.wait()

    def is_running(self) -> bool:
        return not self.done.is_set()
