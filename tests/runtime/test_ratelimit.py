"""The repeat limiter: full report on the first failure, periodic summaries, one recovery line."""

from __future__ import annotations

import pytest

from edge_agent.runtime.ratelimit import RepeatLimiter, ReportKind, humanize_duration


def test_first_failure_then_quiet_then_summary_then_recovery() -> None:
    """An episode logs its first failure, one summary per interval, and its end."""
    limiter = RepeatLimiter(summary_every=600)
    assert limiter.success(0) is None  # nothing to recover from
    first = limiter.failure(10)
    assert (first.kind, first.failures, first.should_log) == (ReportKind.FIRST, 1, True)
    kinds = [limiter.failure(t).kind for t in range(40, 600, 30)]
    assert set(kinds) == {ReportKind.QUIET}
    summary = limiter.failure(610)
    assert summary.kind is ReportKind.SUMMARY
    assert summary.failures == 2 + len(kinds)
    assert summary.lasted() == "10m"
    assert limiter.failure(620).kind is ReportKind.QUIET
    assert limiter.failure(1210).kind is ReportKind.SUMMARY
    recovered = limiter.success(1300)
    assert recovered is not None
    assert (recovered.kind, recovered.duration) == (ReportKind.RECOVERED, 1290)
    assert not limiter.is_failing()
    assert limiter.failure(2000).kind is ReportKind.FIRST  # a new episode starts fresh


def test_a_day_offline_logs_a_bounded_number_of_lines() -> None:
    """Retrying every 30 s for a day logs 1 + 144 lines, not 2880."""
    limiter = RepeatLimiter(summary_every=600)
    logged = sum(limiter.failure(t).should_log for t in range(0, 86400, 30))
    assert logged == 1 + 143


def test_summary_interval_must_be_positive() -> None:
    """A zero interval would summarize every failure: refused."""
    with pytest.raises(ValueError, match="positive"):
        RepeatLimiter(0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (42.4, "42s"), (60, "1m"), (90, "1m30s"), (600, "10m"), (659, "10m"), (3900, "1h05m"),
     (90000, "1d1h"), (-5, "0s")],
)  # fmt: skip
def test_humanize_duration(seconds: float, text: str) -> None:
    """Durations read the way an operator writes them."""
    assert humanize_duration(seconds) == text
