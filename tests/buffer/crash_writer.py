"""A real writer process for the SIGKILL crash test.

``python -m tests.buffer.crash_writer`` (the zygote) imports everything once, then
forks one writer child per request read from stdin, so that hundreds of
kill/restart cycles fit in seconds (each child is a real process; the
zygote itself never runs trio, so forking it is safe). Protocol, one line
each way::

    run <dir> <seed>   ->  forked <pid>      (buffer in <dir>/buffer, logs in <dir>)
                           then: verified <pid> <present> <missing> <unexpected drops>
    reap <pid>         ->  reaped <pid> <status>
    quit

Each child opens the buffer (recovery; this must succeed), reads every
batch and checks that every id acknowledged as committed by an earlier
child (``acked.log``) is present or was delivered before
(``delivered.log``), logs what it delivers, acks it, then appends forever:
durable appends (whose ids go to ``acked.log`` once ``append`` returns) and
scraper-style offers (not promised, not logged), until it is killed.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import trio

from edge_agent.otlp.fragment import Priority
from tests.buffer.helpers import incompressible_logs, instruments, opened, record_ids

OPTS = {
    "segment_bytes": 64 * 1024,
    "commit_interval": 0.005,
    "commit_bytes": 64 * 1024,
    "fsync": "always",
    "state_interval": 0.05,
    "max_disk_bytes": 512 * 1024 * 1024,
}


def _ids(path: Path) -> set[int]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return set()
    # a line torn by the kill has no newline yet: ignore it (its append was not acknowledged)
    return {int(x) for line in text.split("\n")[:-1] for x in line.split()}


def _log(path: Path, ids: list[int]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (" ".join(map(str, ids)) + "\n").encode())
    finally:
        os.close(fd)


async def _verify_and_deliver(buf: object, logs: Path) -> tuple[int, int]:
    from edge_agent.buffer.disk import DiskBuffer

    assert isinstance(buf, DiskBuffer)
    acked = _ids(logs / "acked.log")
    delivered = _ids(logs / "delivered.log")
    present: set[int] = set()
    while any(buf.queued_records().values()):
        batch = await buf.next_batch(max_bytes=256 * 1024)
        ids = record_ids(batch)
        present.update(ids)
        _log(logs / "delivered.log", ids)  # logged before the ack: a kill in between means a resend
        buf.ack(batch)
    missing = acked - present - delivered
    return len(present), len(missing)


async def _child(logs: Path, seed: int) -> None:
    rng = random.Random(seed)
    next_id = seed * 1_000_000
    inst = instruments()
    async with opened(logs / "buffer", inst, **OPTS) as buf:
        present, missing = await _verify_and_deliver(buf, logs)
        # a kill never damages data or loses files: only torn (unacknowledged) writes may be found
        unexpected = inst.dropped.total() - inst.dropped.value(signal="logs", reason="torn_write")
        print(f"verified {os.getpid()} {present} {missing} {unexpected:.0f}", flush=True)
        while True:
            n = rng.randint(1, 20)
            ids = list(range(next_id, next_id + n))
            next_id += n
            fragment = incompressible_logs(
                ids, rng.choice([50, 500, 5000, 30000]), priority=rng.choice(list(Priority))
            )
            if rng.random() < 0.7:
                await buf.append(fragment, durable=True)
                _log(logs / "acked.log", ids)
            else:
                buf.offer(fragment)
                await trio.lowlevel.checkpoint()


def _fork_child(directory: Path, seed: int) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            trio.run(_child, directory, seed)
        except BaseException as exc:
            print(f"child-error {os.getpid()} {type(exc).__name__}: {exc}", flush=True)
            code = 1
        finally:
            os._exit(code)
    return pid


def zygote() -> None:
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            return
        if words[0] == "run":
            pid = _fork_child(Path(words[1]), int(words[2]))
            print(f"forked {pid}", flush=True)
        elif words[0] == "reap":
            _, status = os.waitpid(int(words[1]), 0)
            print(f"reaped {words[1]} {status}", flush=True)


if __name__ == "__main__":
    zygote()
