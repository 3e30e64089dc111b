"""Condensed logging for conditions that repeat: one line per state change plus a summary.

Theory of operation: a failing condition (upstream unreachable, a plugin
that keeps crashing) is an *episode*. :meth:`RepeatLimiter.failure` is
called on every failed attempt and says what to log: the first failure of
an episode is reported in full (``FIRST``); later ones are ``QUIET`` (log
at debug level at most) except that once ``summary_every`` seconds have
passed since the last report, one ``SUMMARY`` line says how long it has
lasted and how many attempts failed. :meth:`RepeatLimiter.success` ends the
episode with one ``RECOVERED`` line. A device that is offline for a week
thus logs a line every ten minutes, not every retry, and still shows the
operator that it keeps trying.

No clock and no logging here: callers pass ``now`` and turn the
:class:`Report` into a log line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReportKind(enum.Enum):
    FIRST = "first"
    QUIET = "quiet"
    SUMMARY = "summary"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class Report:
    kind: ReportKind
    failures: int  # failed attempts in this episode so far
    duration: float  # seconds since the episode's first failure

    @property
    def should_log(self) -> bool:
        return self.kind is not ReportKind.QUIET

    def lasted(self) -> str:
        return humanize_duration(self.duration)


class RepeatLimiter:
    def __init__(self, summary_every: float = 600.0) -> None:
        if summary_every <= 0:
            raise ValueError("summary_every must be positive")
        self.summary_every = summary_every
        self._since: float | None = None
        self._last_report = 0.0
        self._failures = 0

    def is_failing(self) -> bool:
        return self._since is not None

    def failure(self, now: float) -> Report:
        """Record one failed attempt; the report says whether (and how) to log it."""
        self._failures += 1
        if self._since is None:
            self._since = self._last_report = now
            return Report(ReportKind.FIRST, self._failures, 0.0)
        duration = now - self._since
        if now - self._last_report >= self.summary_every:
            self._last_report = now
            return Report(ReportKind.SUMMARY, self._failures, duration)
        return Report(ReportKind.QUIET, self._failures, duration)

    def success(self, now: float) -> Report | None:
        """Record a success; a report (``RECOVERED``) only when it ends an episode."""
        if self._since is None:
            return None
        report = Report(ReportKind.RECOVERED, self._failures, now - self._since)
        self._since = None
        self._failures = 0
        return report


def humanize_duration(seconds: float) -> str:
    """``42s``, ``10m``, ``1h05m``, ``3d4h``: how long, for a log line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m" if secs == 0 or minutes >= 10 else f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"
