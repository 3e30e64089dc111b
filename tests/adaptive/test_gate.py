"""The attempt gate's verdicts, and what it saves on a periodically failing link."""

from __future__ import annotations

import dataclasses
import random

import pytest

from edge_agent.adaptive.config import PredictorConfig
from edge_agent.adaptive.gate import MIN_WAIT, AttemptGate, WallTime

NOON = WallTime(12, 0.0)


def trained_gate(**changes: object) -> AttemptGate:
    """A gate that has seen 20 failures in a row (the link is down)."""
    config = PredictorConfig(**{"explore": 0.0, "warmup": 20, **changes})  # type: ignore[arg-type]
    gate = AttemptGate(config, rng=random.Random(0))
    for i in range(20):
        verdict = gate.check(float(i), NOON)
        gate.outcome(verdict, float(i), failed=True)
    return gate


def test_warmup_then_skip_with_a_wait_until_the_answer_can_change() -> None:
    """During warmup everything goes; once the model is confident an attempt fails it is skipped,
    with a wait up to the next feature change, and counted."""
    gate = AttemptGate(PredictorConfig(warmup=10, explore=0.0))
    first = gate.check(0.0, NOON)
    assert (first.go, first.kind) == (True, "warmup")
    gate = trained_gate()
    verdict = gate.check(20.0, NOON)
    assert (verdict.go, verdict.kind) == (False, "skip")
    assert verdict.p_fail >= 0.8
    assert MIN_WAIT <= verdict.wait <= 900.0
    assert gate.scorecard.skipped == 1
    assert gate.statistics()["decisions"] == {"skip": 1, "warmup": 20}


def test_never_silent_longer_than_max_defer() -> None:
    """However sure the model is, nothing attempted for max_defer forces an attempt."""
    gate = trained_gate(max_defer=600.0)
    assert gate.check(19.0 + 599.0, NOON).kind == "skip"
    assert gate.check(19.0 + 600.0, NOON).kind == "forced"
    skip = gate.check(19.0 + 100.0, NOON)
    assert skip.wait <= 500.0


def test_explore_sends_some_skip_verdicts() -> None:
    """With explore = 0.2 about a fifth of skip verdicts go out, marked explore, and their outcomes
    measure skip precision."""
    gate = trained_gate(explore=0.2, max_defer=1e9)
    t, kinds = 20.0, []
    for _ in range(1000):
        verdict = gate.check(t, NOON)
        kinds.append(verdict.kind)
        t += verdict.wait if not verdict.go else 0.0
    assert 150 < kinds.count("explore") < 250
    assert set(kinds) == {"explore", "skip"}
    verdict = gate.check(t, NOON)
    while verdict.kind != "explore":
        t += verdict.wait
        verdict = gate.check(t, NOON)
    gate.outcome(verdict, t, failed=True)
    assert gate.scorecard.skip_precision() == 1.0


def test_a_skip_holds_every_attempt_until_its_wait_ends() -> None:
    """Several batches asking during one skip's wait all hold; the skip is counted once."""
    gate = trained_gate()
    skip = gate.check(20.0, NOON)
    assert skip.kind == "skip"
    held = [gate.check(20.0 + skip.wait * f, NOON) for f in (0.1, 0.5, 0.9)]
    assert [v.kind for v in held] == ["hold"] * 3
    assert held[1].wait == pytest.approx(skip.wait * 0.5)
    assert gate.scorecard.skipped == 1
    assert gate.check(20.0 + skip.wait, NOON).kind in ("skip", "go", "forced")


def test_disabled_gate_always_goes_but_still_learns() -> None:
    """predictor.enabled = false: every verdict is go ("off"); outcomes are still scored."""
    gate = trained_gate(enabled=False)
    verdict = gate.check(20.0, NOON)
    assert (verdict.go, verdict.kind) == (True, "off")
    assert gate.scorecard.brier() is not None


def test_halves_failed_attempts_on_a_periodic_link() -> None:
    """Sans-IO check: a link up 5 min / down 5 min, tried every 5 s unless the gate says wait. After a
    learning hour the gate avoids at least half of the 1800 failing attempts of the next five hours,
    and most up-time attempts still go out."""
    gate = AttemptGate(PredictorConfig(explore=0.05), rng=random.Random(3))
    t, failed, ok = 0.0, 0, 0
    while t < 6 * 3600:
        up = (t // 300) % 2 == 0
        verdict = gate.check(t, WallTime(int(t // 3600) % 24, t % 3600))
        if not verdict.go:
            t += verdict.wait
            continue
        gate.outcome(verdict, t, failed=not up, rtt=0.1 if up else None)
        if t >= 3600:
            failed += not up
            ok += up
        t += 5.0
    slots = 5 * 3600 // 5 // 2  # attempts every 5 s in five hours, half of them while down
    assert failed <= 0.5 * slots
    assert ok >= 0.6 * slots


def test_skips_before_a_failure_are_learned_as_failures() -> None:
    """Skipped checks have no outcome; a later failure shows the link was down for them, so their
    cells learn a failure. Skips followed by a success are ambiguous and teach nothing."""
    gate = trained_gate(max_defer=1e9)
    skip = gate.check(20.0, NOON)
    cell = skip.features[1][0]
    before = gate.model.counts[cell]
    go = gate.check(20.0 + skip.wait, NOON)
    gate.outcome(dataclasses.replace(go, at=20.0 + skip.wait), 21.0 + skip.wait, failed=True)
    assert gate.model.counts[cell] > before
    skip2 = gate.check(30.0 + skip.wait, NOON)
    counts = list(gate.model.counts)
    later = gate.check(31.0 + skip.wait + skip2.wait, NOON)
    gate.outcome(later, 32.0 + skip.wait + skip2.wait, failed=False)
    changed = [i for i, (a, b) in enumerate(zip(counts, gate.model.counts, strict=True)) if a != b]
    assert all(i in {c for c, _ in later.features} for i in changed)  # only the real attempt's cells


def test_attempts_released_together_teach_once() -> None:
    """Several attempts decided before the latest lesson (batches released by one breaker probe)
    are scored, but only the first teaches the model."""
    gate = AttemptGate(PredictorConfig(warmup=0, explore=0.0))
    verdicts = [gate.check(0.0, NOON) for _ in range(4)]
    for v in verdicts:
        gate.outcome(v, 1.0, failed=False)
    assert gate.model.history.attempts == 4
    assert len(gate.scorecard.recent) == 4
    assert gate.model.counts[verdicts[0].features[0][0]] == 1.0
