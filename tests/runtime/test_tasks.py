"""StoppableTask: one task stopped at a time, its cleanup finished before stop returns."""

from __future__ import annotations

import trio
import trio.testing

from edge_agent.runtime.tasks import StoppableTask


async def test_stop_cancels_one_task_and_waits_for_its_cleanup() -> None:
    """stop() returns after the task's finally ran; the sibling keeps running."""
    log: list[str] = []

    async def worker(name: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.01)  # cleanup that itself awaits
            log.append(f"{name} cleaned up")

    async with trio.open_nursery() as nursery:
        a = await StoppableTask.start(nursery, "a", lambda **kw: worker("a", **kw))
        b = await StoppableTask.start(nursery, "b", lambda **kw: worker("b", **kw))
        await a.ready.wait()
        await a.stop()
        assert log == ["a cleaned up"]
        assert not a.is_running()
        assert b.is_running()
        nursery.cancel_scope.cancel()
    assert log == ["a cleaned up", "b cleaned up"]


async def test_start_does_not_wait_for_readiness() -> None:
    """start() returns at once; ready is set when the function reports started."""
    gate = trio.Event()

    async def slow(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await gate.wait()
        task_status.started()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        task = await StoppableTask.start(nursery, "slow", slow)
        await trio.testing.wait_all_tasks_blocked()
        assert not task.ready.is_set()
        gate.set()
        await task.ready.wait()
        await task.stop()
