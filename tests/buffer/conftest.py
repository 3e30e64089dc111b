"""Fixtures for the buffer's tests.

``io_clock`` is a virtual clock for tests that combine real disk I/O in
worker threads with deadlines: MockClock's autojump advances virtual time
whenever every task is blocked, including while a worker thread does real
I/O, so a zero threshold would fire timeouts (``block_timeout``) that real
time never would. A 50 ms real-time threshold lets I/O finish first; tests
that have no such deadline use pytest-trio's ``autojump_clock``.
"""

from __future__ import annotations

import pytest
from trio.testing import MockClock


@pytest.fixture
def io_clock() -> MockClock:
    return MockClock(autojump_threshold=0.05)
