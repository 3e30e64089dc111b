"""Link traces: when the simulated uplink is up, and its transitions."""

from __future__ import annotations

import pytest

from edge_agent.simulation.links import LinkConfig, LinkTrace


def test_flapping_cycles() -> None:
    """Up for `up`, down for `down`, repeating; transitions land on the cycle edges."""
    trace = LinkTrace(LinkConfig(kind="flapping", up=300.0, down=120.0))
    assert [trace.is_up(t) for t in (0, 299, 300, 419, 420)] == [True, True, False, False, True]
    assert trace.next_change(10.0) == 300.0
    assert trace.next_change(300.0) == 420.0
    assert trace.up_intervals(1000.0) == [(0.0, 300.0), (420.0, 720.0), (840.0, 1000.0)]


def test_nightly_outage_follows_the_device_clock() -> None:
    """Down from outage_start_hour for `outage` every day, whatever hour the scenario starts."""
    trace = LinkTrace(LinkConfig(kind="nightly", outage_start_hour=0.0, outage=8 * 3600.0), start_hour=18.0)
    assert trace.is_up(0.0)
    assert not trace.is_up(6 * 3600.0)  # 00:00
    assert not trace.is_up(13.9 * 3600.0)
    assert trace.is_up(14 * 3600.0)  # 08:00
    assert trace.next_change(0.0) == 6 * 3600.0
    assert trace.up_intervals(40 * 3600.0) == [
        (0.0, 6 * 3600.0),
        (14 * 3600.0, 30 * 3600.0),
        (38 * 3600.0, 40 * 3600.0),
    ]


def test_cellular_state_carries_bandwidth_rtt_loss() -> None:
    """A cellular link is always up with its bandwidth, round trip and loss."""
    state = LinkTrace(LinkConfig(kind="cellular", bandwidth=20_000, rtt=0.6, loss=0.1)).at(123.0)
    assert (state.up, state.bandwidth, state.rtt, state.loss) == (True, 20_000.0, 0.6, 0.1)
    assert LinkTrace(LinkConfig()).next_change(0.0) is None


def test_bad_link_config() -> None:
    """Loss must be a probability; a flapping link needs positive periods."""
    with pytest.raises(ValueError, match="loss"):
        LinkConfig(loss=1.0)
    with pytest.raises(ValueError, match="positive"):
        LinkConfig(kind="flapping", up=0.0)
