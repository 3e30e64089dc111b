"""Durations and sizes parse to typed values and reject nonsense precisely."""

from __future__ import annotations

import pytest

from edge_agent.config.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("10s", 10.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1.5s", 1.5),
        (3, 3.0),
        (0.5, 0.5),
        ("0", 0.0),
        ("100us", 1e-4),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    """Each accepted duration form parses to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "ten seconds", "5x", "1h 30m", "-5s", True, [1]])
def test_parse_duration_rejects(bad: object) -> None:
    """Malformed or negative durations raise ValueError with an example of the right form."""
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64KiB", 65536),
        ("1GiB", 1 << 30),
        ("500kB", 500_000),
        ("4 MiB", 4 << 20),
        (1024, 1024),
        ("10", 10),
        ("2M", 2 << 20),
    ],
)
def test_parse_size(text: object, size: int) -> None:
    """Each accepted size form parses to bytes (binary and decimal units)."""
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "many", "5 parsecs", -1, 1.5, False])
def test_parse_size_rejects(bad: object) -> None:
    """Malformed sizes raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=r"size"):
        parse_size(bad)


@pytest.mark.parametrize("seconds", [0.25, 10.0, 300.0, 5400.0, 86400.0, 1.5])
def test_format_duration_round_trips(seconds: float) -> None:
    """What check-config prints parses back to the same value."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("size", [1, 1024, 65536, 3 << 20, 1 << 30, 1000])
def test_format_size_round_trips(size: int) -> None:
    """Sizes print in the largest exact binary unit and parse back."""
    assert parse_size(format_size(size)) == size
