"""The exporter's attempt gate: skip attempts the link model says are doomed (sans-IO).

Before each export attempt the exporter asks :meth:`AttemptGate.check`. The
verdict is one of:

* ``go``: the predicted failure probability is below ``skip_threshold``;
* ``warmup``: too few outcomes seen to trust the model yet;
* ``forced``: nothing was attempted for ``max_defer``: try regardless, so a
  wrong model can never silence the link for good;
* ``explore``: a skip verdict sent anyway, with probability ``explore``:
  its outcome measures how precise skipping is (and keeps teaching the
  model in the region it would otherwise never see again);
* ``skip``: do not attempt now; ask again after ``wait`` seconds, which is
  exactly when the model's features next change (an age bucket or the hour
  rolls over), at most ``max_defer``. Until then every check answers
  ``hold`` (not counted again: several batches may be waiting at once).

The exporter reports each attempt's result with :meth:`outcome`, passing
back the verdict it got; that pairs prediction and outcome even with several
attempts in flight. A failure is what the circuit breaker counts as one
(transport errors, timeouts, 502-504): a 429 shows a live link.

Skipping censors the data: a skipped attempt has no outcome. Skips are
therefore labelled afterwards where the truth is known: a skip followed by
a failure was made during the outage (failed). Skips followed by a success
are ambiguous (the link came back at some unknown moment in between) and
are not learned; explored attempts and the ``max_defer`` probe keep
sampling that region, so a link whose outages got shorter is noticed.
Imputed labels teach the model but never enter the scorecard, which
measures real outcomes only.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field

from edge_agent.adaptive.config import PredictorConfig
from edge_agent.adaptive.predictor import LinkModel, Scorecard

MIN_WAIT = 1.0  # never re-ask sooner than this: the answer would not change
MAX_PENDING_SKIPS = 512  # skips awaiting a label (bounded: 512 x recheck covers hours)


@dataclass(frozen=True)
class WallTime:
    """The device's local hour of day and how far into it we are."""

    hour: int
    seconds_into_hour: float


@dataclass(frozen=True)
class Verdict:
    go: bool
    p_fail: float
    kind: str  # go | warmup | forced | explore | skip | hold | off
    wait: float = 0.0
    at: float = 0.0  # when the verdict was given
    features: tuple[tuple[int, float], ...] = field(default=(), repr=False)


class AttemptGate:
    def __init__(self, config: PredictorConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.model = LinkModel(memory=config.memory)
        self.scorecard = Scorecard()
        self.rng = rng or random.Random()
        self.decisions: dict[str, int] = {}
        self.last_p: float | None = None
        self._hold_until = 0.0  # after a skip: every attempt waits until then, counted once
        self._skipped: list[tuple[float, list[tuple[int, float]]]] = []  # (when, features), unlabelled
        self._learned_at = -math.inf  # when the model last learned an outcome

    def reconfigure(self, config: PredictorConfig) -> None:
        self.config = config
        self.model.memory = config.memory

    def check(self, now: float, wall: WallTime) -> Verdict:
        if now < self._hold_until:  # the skip that started this wait covers every attempt in it
            return Verdict(False, self.last_p or 0.0, "hold", wait=self._hold_until - now)
        x = self.model.features(now, wall.hour)
        p = self.model.p_fail(x)
        self.last_p = p
        verdict = dataclasses.replace(self._decide(now, wall, p, tuple(x)), at=now)
        self.decisions[verdict.kind] = self.decisions.get(verdict.kind, 0) + 1
        if verdict.kind == "skip":
            self.scorecard.skipped += 1
            self._hold_until = now + verdict.wait
            if len(self._skipped) < MAX_PENDING_SKIPS:
                self._skipped.append((now, list(x)))
        return verdict

    def is_holding(self, now: float) -> bool:
        """Attempts are being held back because the link is predicted down."""
        return now < self._hold_until

    def _decide(self, now: float, wall: WallTime, p: float, x: tuple[tuple[int, float], ...]) -> Verdict:
        config, history = self.config, self.model.history
        if not config.enabled:
            return Verdict(True, p, "off", features=x)
        if history.attempts < config.warmup:
            return Verdict(True, p, "warmup", features=x)
        if p < config.skip_threshold:
            return Verdict(True, p, "go", features=x)
        idle = now - history.last_attempt if history.last_attempt is not None else config.max_defer
        if idle >= config.max_defer:
            return Verdict(True, p, "forced", features=x)
        if self.rng.random() < config.explore:
            return Verdict(True, p, "explore", features=x)
        stable = self.model.stable_for(now, wall.seconds_into_hour)
        wait = min(stable, config.recheck, config.max_defer - idle)
        return Verdict(False, p, "skip", wait=max(MIN_WAIT, wait), features=x)

    def outcome(self, verdict: Verdict, now: float, *, failed: bool, rtt: float | None = None) -> None:
        """The attempt ``verdict`` allowed ended; learn from it."""
        self._label_skips(now, failed)
        x = list(verdict.features)
        if x:
            self.scorecard.record(verdict.kind, verdict.p_fail, failed)
            # several attempts released together (after a breaker probe, say) are one piece of
            # evidence, not many: a verdict older than the last lesson does not teach again
            if verdict.at >= self._learned_at:
                self.model.learn(x, failed)
                self._learned_at = now
        self.model.history.record(now, failed, rtt)

    def _label_skips(self, now: float, failed: bool) -> None:
        """Learn the skips made before a failure: the link was down all along. Skips followed
        by a success are ambiguous (it came back at some unknown moment) and are forgotten."""
        if failed:
            for _, x in self._skipped:
                self.model.learn(x, failed=True)
        self._skipped.clear()

    def statistics(self) -> dict[str, object]:
        card = self.scorecard
        return {
            "enabled": self.config.enabled,
            "p_fail": None if self.last_p is None else round(self.last_p, 3),
            "decisions": dict(sorted(self.decisions.items())),
            "skipped": card.skipped,
            "brier": _round(card.brier()),
            "skip_precision": _round(card.skip_precision()),
            "skip_recall": _round(card.skip_recall()),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
