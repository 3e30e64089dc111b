"""Helper process for the RSS test: fill a buffer directory, or open one and report memory.

python -m tests.buffer.rss_probe fill <dir> <bytes>
python -m tests.buffer.rss_probe measure <dir> <batches>   -> prints "rss <bytes> peak <bytes> records <n>"
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import trio

from edge_agent.otlp.fragment import Fragment
from tests.buffer.helpers import instruments, log_fragment, opened

# uncompressed frames: filling 1 GiB then costs disk time, not CPU time
OPTS = {"compression": "none", "fsync": "never", "max_disk_bytes": 4 * 1024**3, "commit_bytes": 1024 * 1024}
CHUNK = 256 * 1024


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


async def fill(directory: Path, total: int) -> None:
    noise = os.urandom(CHUNK)
    async with opened(directory, **OPTS) as buf:
        written = 0
        i = 0
        while written < total:
            base = log_fragment([i])
            extra = (
                bytes([0x7A])
                + bytes([0x80 | (CHUNK & 0x7F), 0x80 | ((CHUNK >> 7) & 0x7F), CHUNK >> 14])
                + noise
            )
            fragment = Fragment(
                base.signal, base.payload + extra, 1, base.first_ns, base.last_ns, base.priority
            )
            assert buf.offer(fragment)
            written += len(fragment.payload)
            i += 1
            if i % 4 == 0:
                await buf.commit(force=True)  # 1 MiB frames, like commit_bytes would make them
        await buf.flush()


async def measure(directory: Path, batches: int) -> None:
    inst = instruments()
    async with opened(directory, inst, **OPTS) as buf:
        records = 0
        for _ in range(batches):
            if not any(buf.queued_records().values()):
                break
            batch = await buf.next_batch(max_bytes=512 * 1024)
            records += batch.records
            buf.release(batch)  # leave the backlog as it is
            del batch
        gc.collect()
        print(
            f"rss {_vm('VmRSS')} peak {_vm('VmHWM')} records {sum(buf.queued_records().values())}", flush=True
        )


if __name__ == "__main__":
    action, where = sys.argv[1], Path(sys.argv[2])
    if action == "fill":
        trio.run(fill, where, int(sys.argv[3]))
    else:
        trio.run(measure, where, int(sys.argv[3]))
