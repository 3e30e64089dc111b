"""Shared fixtures. Peer binaries are looked up in tests/peers.py."""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def thread_safe_clock() -> trio.testing.MockClock:
    """A MockClock that only jumps after 50 ms of real idleness.

    ``autojump_clock`` (threshold 0) jumps as soon as every task is blocked,
    including while a worker thread runs (psutil, fsync, blocking scrapers),
    which makes thread-using code race virtual time. With a small real
    threshold, a thread that finishes promptly is waited for.
    """
    return trio.testing.MockClock(autojump_threshold=0.05)
