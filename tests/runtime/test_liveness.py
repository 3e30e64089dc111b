"""The liveness deadline monitor: promises, idleness, stalls and their descriptions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.runtime.liveness import Liveness, NullProbe, StageProbe


def test_no_stages_is_live() -> None:
    """A monitor nobody reports to is live."""
    assert Liveness(grace=5).check(now=1000).live


@pytest.mark.parametrize(
    ("within", "grace", "now", "live"),
    [
        (10, 5, 114.9, True),  # inside promise + grace
        (10, 5, 115.0, True),  # exactly at the deadline
        (10, 5, 115.1, False),  # past it
        (0, 0, 100.0, True),
        (0, 0, 100.1, False),
        (-3, 0, 100.0, True),  # a negative promise counts as "now"
    ],
)
def test_promise_deadline_is_within_plus_grace(within: float, grace: float, now: float, live: bool) -> None:
    """A stage is stalled only once now passes promise time + within + grace."""
    liveness = Liveness(grace)
    liveness.expect("exporter", now=100.0, within=within, doing="export request")
    assert liveness.check(now).live is live


def test_idle_stage_never_stalls() -> None:
    """A stage waiting for input (idle) is not a fault, however long it waits."""
    liveness = Liveness(grace=1)
    liveness.expect("exporter", now=0, within=1)
    liveness.idle("exporter")
    assert liveness.check(now=1e9).live


def test_new_promise_replaces_the_old_one() -> None:
    """Progress (a new promise) clears an overdue one."""
    liveness = Liveness(grace=0)
    liveness.expect("plugin cpu", now=0, within=1)
    assert not liveness.check(5).live
    liveness.expect("plugin cpu", now=5, within=1)
    assert liveness.check(5.5).live


def test_forgotten_stage_is_dropped() -> None:
    """A removed stage (stopped plugin) no longer counts, even if it was overdue."""
    liveness = Liveness(grace=0)
    liveness.expect("plugin old", now=0, within=1)
    liveness.forget("plugin old")
    liveness.forget("never-seen")
    assert liveness.check(100).live
    assert liveness.stages() == []


def test_report_names_every_stalled_stage_and_what_it_was_doing() -> None:
    """The report lists stalled stages, sorted, with how long past their deadline."""
    liveness = Liveness(grace=10)
    liveness.expect("plugin disk", now=0, within=5, doing="scrape")
    liveness.expect("exporter", now=0, within=10, doing="export request")
    liveness.expect("event_loop", now=0, within=1000)
    report = liveness.check(now=100)
    assert not report.live
    assert [s.stage for s in report.stalls] == ["exporter", "plugin disk"]
    assert report.stalls[1].overdue == pytest.approx(95)
    assert report.describe() == (
        "wedged: exporter (export request) made no progress for 90s past its deadline; "
        "plugin disk (scrape) made no progress for 95s past its deadline"
    )
    assert Liveness(1).check(0).describe() == "live"


def test_negative_grace_is_refused() -> None:
    """A negative grace is a programming error."""
    with pytest.raises(ValueError, match="grace"):
        Liveness(-1)


def test_probe_fills_in_the_clock() -> None:
    """StageProbe reads its clock at each call and reports under its stage name."""
    now = [0.0]
    liveness = Liveness(grace=0)
    probe = StageProbe(liveness, "plugin x", lambda: now[0])
    probe.expect(2, "scrape")
    now[0] = 3
    assert liveness.check(now[0]).stalls[0].stage == "plugin x"
    probe.idle()
    assert liveness.check(now[0]).live
    probe.expect(0)
    probe.forget()
    assert liveness.stages() == []


def test_null_probe_reports_nothing() -> None:
    """NullProbe accepts every call and has no effect."""
    probe = NullProbe()
    probe.expect(1, "x")
    probe.idle()
    probe.forget()


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(0, 100), st.floats(0, 100), st.booleans()),
        max_size=30,
    ),
    st.floats(0, 300),
)
def test_live_iff_no_armed_promise_is_overdue(
    events: list[tuple[str, float, float, bool]], now: float
) -> None:
    """Live exactly when every stage's latest promise (idle = none) is not yet overdue."""
    liveness = Liveness(grace=7)
    latest: dict[str, float | None] = {}
    for stage, at, within, idle in events:
        if idle:
            liveness.idle(stage)
            latest[stage] = None
        else:
            liveness.expect(stage, at, within)
            latest[stage] = at + within + 7
    expected = all(d is None or now <= d for d in latest.values())
    assert liveness.check(now).live is expected
