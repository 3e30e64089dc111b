"""The online link model and its scorecard."""

from __future__ import annotations

import pytest

from edge_agent.adaptive.predictor import AGE_BUCKETS, LinkHistory, LinkModel, Scorecard


def test_prior_is_optimistic() -> None:
    """Before any outcome the model predicts that attempts mostly succeed."""
    model = LinkModel()
    assert model.p_fail(model.features(0.0, 12)) < 0.2


def test_learns_that_failures_follow_failures_early_in_an_outage() -> None:
    """After a few outages that last 5 minutes, an attempt 30 s into an outage is predicted to fail,
    one 30 s into an up-time to succeed."""
    model = LinkModel()
    t = 0.0
    for _ in range(12):  # 12 cycles of 5 min up, 5 min down, an attempt every 10 s
        for up in (True, False):
            for _ in range(30):
                x = model.features(t, hour=3)
                model.learn(x, failed=not up)
                model.history.record(t, failed=not up, rtt=0.1 if up else None)
                t += 10
    model.history.record(t, failed=True, rtt=None)
    assert model.p_fail(model.features(t + 30, 3)) > 0.9
    for back in (400, 410, 420):
        model.history.record(t + back, failed=False, rtt=0.1)
    assert model.p_fail(model.features(t + 430, 3)) < 0.2


def test_features_are_sparse_one_hot() -> None:
    """Bias, error rate, one state-age bucket and one hour; last-failed only while failing."""
    model = LinkModel()
    model.history.record(0.0, failed=True, rtt=None)
    x = dict(model.features(5.0, 7))
    assert x[0] == 1.0
    assert x[1] == 1.0
    assert sum(1 for i in x if i >= 4) == 2  # one age bucket, one hour


def test_stable_for_is_the_next_bucket_edge_or_hour() -> None:
    """The prediction cannot change before the next age bucket edge or the top of the hour."""
    model = LinkModel()
    assert model.stable_for(0.0, seconds_into_hour=3000) == 600
    model.history.record(100.0, failed=True, rtt=None)
    age = 10.0
    edge = next(e for e in AGE_BUCKETS if e > age)
    assert model.stable_for(100.0 + age, seconds_into_hour=0) == pytest.approx(edge - age)


def test_history_tracks_streaks_and_rtt() -> None:
    """The state clock restarts only when the outcome flips; RTTs come from successes only."""
    h = LinkHistory()
    h.record(0, failed=False, rtt=0.2)
    h.record(10, failed=False, rtt=0.4)
    assert h.state_since == 0
    h.record(20, failed=True, rtt=5.0)
    h.record(30, failed=True, rtt=None)
    assert (h.state_since, h.attempts, h.last_attempt) == (20, 4, 30)
    assert h.rtt_short == pytest.approx(0.3)


def test_scorecard() -> None:
    """Brier score over recent outcomes; skip precision from explored skips; recall estimated."""
    card = Scorecard(window=4)
    for p, failed in ((0.9, True), (0.1, False), (0.2, True), (0.8, False), (0.0, False)):
        card.record("go", p, failed)
    assert card.brier() == pytest.approx((0.01 + 0.64 + 0.64 + 0.0) / 4)  # the last four only
    assert card.skip_precision() is None
    card.record("explore", 0.95, True)
    card.record("explore", 0.9, True)
    card.record("explore", 0.85, False)
    card.skipped = 30
    assert card.skip_precision() == pytest.approx(2 / 3)
    # 30 skips x 2/3 + 2 explored failures caught vs 2 failures let through ("go", failed)
    assert card.skip_recall() == pytest.approx(22 / 24)
