"""Crash test: a real writer process is SIGKILLed at random moments, hundreds of times.

After every kill the next process must open the buffer (recovery never
refuses to start) and find every record whose durable append had returned
(at-least-once). A kill here loses the process, not the page cache, so
this checks the commit protocol and recovery, not the disk's honesty about
fsync (power loss cannot be simulated in CI; see docs/buffer.md).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

KILLS = 200
TIME_BUDGET = 80.0  # seconds; the loop stops early (and fails) rather than run away


class Zygote:
    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.buffer.crash_writer"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line.startswith("child-error"):
                raise AssertionError(line)
            if line.startswith(prefix):
                return line.split()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.send("quit")
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self._pump_thread.join(timeout=10)
        self.proc.stdout.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_a_committed_record(tmp_path: Path) -> None:
    """200+ SIGKILLs: every restart opens the buffer and finds every acknowledged record."""
    rng = random.Random(20261127)
    zygote = Zygote()
    started = time.monotonic()
    verified = kills = 0
    try:
        for cycle in range(KILLS):
            assert time.monotonic() - started < TIME_BUDGET, f"only {cycle} kills within {TIME_BUDGET}s"
            zygote.send(f"run {tmp_path} {cycle + 1}")
            pid = int(zygote.expect("forked")[1])
            if rng.random() < 0.8:
                # normal case: let it recover and verify, then kill it while it writes
                _, vpid, present, missing, unexpected = zygote.expect("verified")
                assert int(vpid) == pid
                assert int(missing) == 0, (
                    f"cycle {cycle}: {missing} committed records missing ({present} present)"
                )
                assert int(unexpected) == 0, f"cycle {cycle}: drops other than torn writes were reported"
                verified += 1
                time.sleep(rng.uniform(0.0, 0.12))
            else:
                time.sleep(rng.uniform(0.0, 0.03))  # kill during start-up, recovery or verification
            os.kill(pid, signal.SIGKILL)
            kills += 1
            zygote.send(f"reap {pid}")
            status = int(zygote.expect(f"reaped {pid}")[2])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                "the writer died on its own"
            )
        # one last start must succeed and find everything
        zygote.send(f"run {tmp_path} 999999")
        pid = int(zygote.expect("forked")[1])
        _, _, _, missing, unexpected = zygote.expect("verified")
        assert int(missing) == 0 and int(unexpected) == 0
        os.kill(pid, signal.SIGKILL)
        zygote.send(f"reap {pid}")
        zygote.expect(f"reaped {pid}")
    finally:
        zygote.close()
    acked = sum(len(line.split()) for line in (tmp_path / "acked.log").read_text().splitlines())
    assert kills >= KILLS and verified > KILLS // 2
    assert acked > 1000, "the writers must have committed a meaningful amount between kills"
