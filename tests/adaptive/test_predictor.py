"""The online link model and its scorecard."""

from __future__ import annotations

import pytest

from edge_agent.adaptive.predictor import AGE_BUCKETS, PRIOR_RATE, LinkHistory, LinkModel, Scorecard


def cycle(model: LinkModel, t: float, *, up: float, down: float, every: float = 10.0, hour: int = 3) -> float:
    """One up period then one outage, an attempt every `every` seconds; returns the end time."""
    for is_up, length in ((True, up), (False, down)):
        end = t + length
        while t < end:
            x = model.features(t, hour)
            model.learn(x, failed=not is_up)
            model.history.record(t, failed=not is_up, rtt=0.1 if is_up else None)
            t += every
    return t


def test_prior_is_optimistic() -> None:
    """Before any outcome the model predicts that attempts mostly succeed."""
    model = LinkModel()
    assert model.p_fail(model.features(0.0, 12)) == pytest.approx(PRIOR_RATE)


def test_learns_how_long_outages_last() -> None:
    """After outages of 5 minutes, an attempt 30 s into an outage is predicted to fail, one 5 minutes
    into it (the link came back then) less so, one 30 s into an up-time to succeed."""
    model = LinkModel()
    t = 0.0
    for _ in range(25):
        t = cycle(model, t, up=300, down=300)
    model.history = LinkHistory(last_failed=True, state_since=t)
    early = model.p_fail(model.features(t + 30, 3))
    assert early > 0.9
    model.history = LinkHistory(last_failed=True, state_since=t - 300)
    assert model.p_fail(model.features(t, 3)) < early
    model.history = LinkHistory(last_failed=False, state_since=t - 30)
    assert model.p_fail(model.features(t, 3)) < 0.1


def test_an_hour_with_evidence_weighs_in_an_unknown_hour_is_neutral() -> None:
    """The hour cell moves the estimate only as far as its evidence allows."""
    model = LinkModel()
    t = 0.0
    for _ in range(25):
        t = cycle(model, t, up=300, down=300, hour=3)
    model.history = LinkHistory(last_failed=True, state_since=t - 30)
    at_3, at_4 = model.p_fail(model.features(t, 3)), model.p_fail(model.features(t, 4))
    (state, _), (age, _), _ = model.features(t, 4)
    assert at_4 == pytest.approx(model._estimate(age, model._estimate(state, PRIOR_RATE)))  # age alone
    # hour 8 has seen the link come back many times: it lowers the estimate
    for _ in range(20):
        model.learn(model.features(t, 8), failed=False)
    assert model.p_fail(model.features(t, 8)) < at_3 - 0.3


def test_cells_forget_old_evidence() -> None:
    """With memory 20 a cell follows a changed link within a few dozen outcomes."""
    model = LinkModel(memory=20)
    model.history.record(0.0, failed=True, rtt=None)
    x = model.features(1.0, 3)
    for _ in range(100):
        model.learn(x, failed=True)
    for _ in range(40):
        model.learn(x, failed=False)
    assert model.p_fail(x) < 0.2


def test_rtt_trend_raises_the_estimate() -> None:
    """A path whose RTT doubled falls into a band whose failure rate raises the prediction."""
    model = LinkModel()
    model.history.record(0.0, failed=False, rtt=0.1)
    for i in range(40):
        model.history.record(float(i), failed=False, rtt=0.1)
    slow = LinkHistory(last_failed=False, state_since=0.0, rtt_short=0.5, rtt_long=0.1)
    base = model.p_fail(model.features(50.0, 3))
    model.history = slow
    x = model.features(50.0, 3)
    assert len(x) == 4
    for _ in range(20):
        model.learn(x, failed=True)
    model.history = LinkHistory(last_failed=False, state_since=0.0, rtt_short=0.5, rtt_long=0.1)
    assert model.p_fail(model.features(50.0, 3)) > base


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
