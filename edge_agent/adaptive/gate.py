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
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from edge_agent.adaptive.config import PredictorConfig
from edge_agent.adaptive.predictor import LinkModel, Scorecard

MIN_WAIT = 1.0  # never re-ask sooner than this: the answer would not change


@dataclass(frozen=True)
class WallTime:
    """The device's local hour of day and how far into it we are."""

    hour: int
    seconds_into_hour: float


@dataclass(frozen=True)
class Verdict:
    go: bool
    p_fail: float
    kind: str  # go | warmup | forced | explore | skip | off
    wait: float = 0.0
    features: tuple[tuple[int, float], ...] = field(default=(), repr=False)


class AttemptGate:
    def __init__(self, config: PredictorConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.model = LinkModel(learning_rate=config.learning_rate)
        self.scorecard = Scorecard()
        self.rng = rng or random.Random()
        self.decisions: dict[str, int] = {}
        self.last_p: float | None = None
        self._hold_until = 0.0  # after a skip: every attempt waits until then, counted once

    def reconfigure(self, config: PredictorConfig) -> None:
        self.config = config
        self.model.learning_rate = config.learning_rate

    def check(self, now: float, wall: WallTime) -> Verdict:
        if now < self._hold_until:  # the skip that started this wait covers every attempt in it
            return Verdict(False, self.last_p or 0.0, "hold", wait=self._hold_until - now)
        x = self.model.features(now, wall.hour)
        p = self.model.p_fail(x)
        self.last_p = p
        verdict = self._decide(now, wall, p, tuple(x))
        self.decisions[verdict.kind] = self.decisions.get(verdict.kind, 0) + 1
        if verdict.kind == "skip":
            self.scorecard.skipped += 1
            self._hold_until = now + verdict.wait
        return verdict

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
        wait = min(self.model.stable_for(now, wall.seconds_into_hour), config.max_defer - idle)
        return Verdict(False, p, "skip", wait=max(MIN_WAIT, wait), features=x)

    def outcome(self, verdict: Verdict, now: float, *, failed: bool, rtt: float | None = None) -> None:
        """The attempt ``verdict`` allowed ended; learn from it."""
        x = list(verdict.features)
        if x:
            self.model.learn(x, failed)
            self.scorecard.record(verdict.kind, verdict.p_fail, failed)
        self.model.history.record(now, failed, rtt)

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
