"""Shared fixtures. Peer binaries are looked up in tests/peers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio.testing

from edge_agent.runtime.clock import set_tick_origin


@pytest.fixture
def thread_safe_clock() -> trio.testing.MockClock:
    """A MockClock that only jumps after 50 ms of real idleness.

    ``autojump_clock`` (threshold 0) jumps as soon as every task is blocked,
    including while a worker thread runs (psutil, fsync, blocking scrapers),
    which makes thread-using code race virtual time. With a small real
    threshold, a thread that finishes promptly is waited for.
    """
    return trio.testing.MockClock(autojump_threshold=0.05)


@pytest.fixture(autouse=True)
def tick_origin_zero() -> Iterator[None]:
    """Every test starts with ticks counted from 0 (an agent started by an earlier test moved it)."""
    set_tick_origin(0.0)
    yield
    set_tick_origin(0.0)
