"""AIMD adaptive concurrency controller (Vector ARC parameters), on explicit time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.export.concurrency import AimdController, AimdSettings, EwmaVar


def _window(
    ctl: AimdController, now: float, rtt: float | None, *, reached: bool, backpressure: bool = False
) -> float:
    """One observation window: requests at the limit (or below), then a response ending the window."""
    ctl.on_start(ctl.limit if reached else ctl.limit - 1)
    ctl.on_response(now, rtt, backpressure=backpressure)
    return now + 1.0  # longer than any RTT used here: every response closes a window


def _seeded(settings: AimdSettings, rtt: float = 0.1) -> tuple[AimdController, float]:
    ctl = AimdController(settings)
    ctl.on_response(0.0, rtt, backpressure=False)  # the first sample only seeds the RTT average
    return ctl, 1.0


def test_starts_at_initial_and_first_sample_only_seeds() -> None:
    """The limit starts at initial_concurrency and the first RTT sample changes nothing."""
    ctl = AimdController(AimdSettings(initial=1, maximum=8))
    ctl.on_start(1)
    ctl.on_response(0.0, 0.1, backpressure=False)
    assert ctl.limit == 1
    assert ctl.past_rtt.mean == pytest.approx(0.1)


def test_additive_increase_when_limit_reached_and_rtt_steady() -> None:
    """Each window that hit the limit with steady RTT adds exactly one, up to the maximum."""
    ctl, now = _seeded(AimdSettings(initial=1, maximum=4))
    limits = []
    for _ in range(6):
        now = _window(ctl, now, 0.1, reached=True)
        limits.append(ctl.limit)
    assert limits == [2, 3, 4, 4, 4, 4]


def test_no_increase_without_demand() -> None:
    """A limit that was never reached is not raised (no evidence more parallelism helps)."""
    ctl, now = _seeded(AimdSettings(initial=2, maximum=8))
    for _ in range(5):
        now = _window(ctl, now, 0.1, reached=False)
    assert ctl.limit == 2


def test_multiplicative_decrease_on_backpressure() -> None:
    """Backpressure shrinks the limit by x0.9 rounded down, never below 1."""
    ctl, now = _seeded(AimdSettings(initial=10, maximum=10))
    limits = []
    for _ in range(11):
        now = _window(ctl, now, None, reached=True, backpressure=True)
        limits.append(ctl.limit)
    assert limits == [9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1]


def test_rtt_growth_beyond_deviation_counts_as_backpressure() -> None:
    """A window RTT above mean + 2.5 stdev decreases the limit; within the band it does not."""
    ctl, now = _seeded(AimdSettings(initial=4, maximum=4))
    for rtt in (0.10, 0.12, 0.09, 0.11, 0.10):  # build a mean and a deviation, at the maximum
        now = _window(ctl, now, rtt, reached=True)
    assert ctl.limit == 4
    band = ctl.past_rtt.mean + 2.5 * ctl.past_rtt.stdev  # type: ignore[operator]
    now = _window(ctl, now, band * 0.99, reached=False)
    assert ctl.limit == 4
    now = _window(ctl, now, band * 3, reached=False)
    assert ctl.limit == 3


def test_adjusts_at_most_once_per_rtt_window() -> None:
    """Responses inside one past-RTT window are pooled into one decision."""
    ctl, _ = _seeded(AimdSettings(initial=1, maximum=8), rtt=1.0)
    ctl.on_start(1)
    for t in (1.0, 1.2, 1.4, 1.6):  # window ends at 0 + 1.0: the first response adjusts, then wait
        ctl.on_response(t, 1.0, backpressure=False)
        ctl.on_start(ctl.limit)
    assert ctl.limit == 2
    ctl.on_response(2.1, 1.0, backpressure=False)
    assert ctl.limit == 3


def test_backpressure_before_any_rtt_still_decreases() -> None:
    """With no successful response yet, backpressure alone shrinks an initial limit above 1."""
    ctl = AimdController(AimdSettings(initial=4, maximum=4))
    ctl.on_response(0.0, None, backpressure=True)
    ctl.on_response(0.1, None, backpressure=True)
    assert ctl.limit == 2


def test_ewma_var_matches_the_incremental_formula() -> None:
    """EwmaVar follows mean += a*d; var = (1-a)(var + d*a*d), seeded by the first value."""
    ewma = EwmaVar(0.4)
    mean, var = None, 0.0
    for x in (1.0, 2.0, 0.5, 4.0):
        ewma.update(x)
        if mean is None:
            mean = x
        else:
            diff = x - mean
            mean += 0.4 * diff
            var = 0.6 * (var + diff * 0.4 * diff)
    assert ewma.mean == pytest.approx(mean)
    assert ewma.stdev == pytest.approx(math.sqrt(var))


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.floats(0.001, 10)), st.booleans(), st.booleans()), max_size=200
    )
)
def test_limit_stays_within_bounds(events: list[tuple[float | None, bool, bool]]) -> None:
    """Whatever the responses, 1 <= limit <= maximum."""
    ctl = AimdController(AimdSettings(initial=2, maximum=6))
    now = 0.0
    for rtt, backpressure, reached in events:
        now += 0.5
        ctl.on_start(ctl.limit if reached else 0)
        ctl.on_response(now, rtt, backpressure=backpressure)
        assert 1 <= ctl.limit <= 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0}, "initial"),
        ({"initial": 5, "maximum": 4}, "initial"),
        ({"decrease_ratio": 1.0}, "decrease_ratio"),
        ({"ewma_alpha": 0}, "ewma_alpha"),
    ],
)
def test_settings_validation(kwargs: dict[str, float], message: str) -> None:
    """Settings that would break the controller are refused, naming the setting."""
    with pytest.raises(ValueError, match=message):
        AimdSettings(**kwargs)  # type: ignore[arg-type]
