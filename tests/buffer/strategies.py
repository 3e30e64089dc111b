"""Hypothesis strategies shared by the buffer's tests."""

from __future__ import annotations

from hypothesis import strategies as st

from edge_agent.buffer.frames import Envelope
from edge_agent.otlp.fragment import Priority, Signal

timestamps = st.integers(min_value=0, max_value=2**63 - 1)

envelopes = st.builds(
    lambda signal, priority, records, t0, dt, codec, payload: Envelope(
        signal, priority, records, t0, t0 + dt, codec, len(payload) * 3, payload
    ),
    st.sampled_from(Signal),
    st.sampled_from(Priority),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from(["identity", "gzip", "zstd"]),
    st.binary(max_size=300),
)

envelope_lists = st.lists(envelopes, min_size=1, max_size=8)
