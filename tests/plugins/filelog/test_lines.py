"""Framing file bytes into records: any chunking gives the same records; limits and encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent_plugins.filelog.lines import Cursor, Framer


def _frame_all(
    framer: Framer, data: bytes, cuts: list[int], *, flush: bool = True
) -> tuple[list[bytes], Cursor]:
    cursor = Cursor()
    records: list[bytes] = []
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        records += framer.frame(cursor, data[start:cut]).records
        start = max(start, cut)
    if flush:
        records += framer.frame(cursor, b"", flush=True).records
    return records, cursor


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
            min_size=1,
            max_size=40,
        ),
        max_size=30,
    ),
    st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
)
def test_chunking_does_not_change_the_records(lines: list[str], cuts: list[int]) -> None:
    """However the file is split into reads, the records are exactly its non-empty lines."""
    data = "".join(f"{line}\n" for line in lines).encode()
    records, cursor = _frame_all(Framer(max_line=1 << 20), data, cuts)
    assert records == [line.encode() for line in lines]
    assert cursor.committed == len(data)


def test_partial_line_stays_pending_until_newline_or_flush() -> None:
    """An unterminated last line is not emitted (committed offset stops before it) until flushed."""
    framer, cursor = Framer(max_line=100), Cursor()
    assert framer.frame(cursor, b"one\ntw").records == [b"one"]
    assert (cursor.offset, cursor.committed, cursor.pending) == (6, 4, b"tw")
    assert framer.frame(cursor, b"o\nthree").records == [b"two"]
    assert framer.frame(cursor, b"", flush=True).records == [b"three"]
    assert cursor.committed == 13


def test_crlf_and_empty_lines() -> None:
    """CRLF endings are stripped and empty lines skipped."""
    framer = Framer(max_line=100)
    assert framer.frame(Cursor(), b"a\r\n\r\n\nb\r\n").records == [b"a", b"b"]


def test_long_lines_are_truncated_and_counted() -> None:
    """A line over max_line is cut (on a character boundary); the rest of it is discarded, counted once."""
    framer, cursor = Framer(max_line=10), Cursor()
    out = framer.frame(cursor, b"short\n" + "é".encode() * 20 + b"\nnext\n")
    assert out.records == [b"short", "é".encode() * 5, b"next"]
    assert out.truncated == 1


def test_megabyte_line_read_in_pieces_is_cut_once() -> None:
    """A 1 MB line arriving over many reads yields one truncated record and the following lines intact."""
    framer, cursor = Framer(max_line=1000), Cursor()
    big = b"x" * (1 << 20)
    records, truncated = [], 0
    data = b"before\n" + big + b"\nafter\n"
    for start in range(0, len(data), 65536):
        out = framer.frame(cursor, data[start : start + 65536])
        records += out.records
        truncated += out.truncated
    assert records == [b"before", b"x" * 1000, b"after"]
    assert truncated == 1 and cursor.committed == len(data)


def test_binary_garbage_is_replaced_and_counted() -> None:
    """Invalid UTF-8 becomes U+FFFD (so upstream accepts the batch) and each bad line is counted."""
    out = Framer(max_line=100).frame(Cursor(), b"ok\n\xff\xfe\x00bin\nfine\n")
    assert out.records == [b"ok", "\ufffd\ufffd\x00bin".encode(), b"fine"]
    assert out.invalid_utf8 == 1


def test_latin1_is_transcoded() -> None:
    """latin-1 bytes are converted to UTF-8."""
    out = Framer(max_line=100, encoding="latin-1").frame(Cursor(), b"caf\xe9\n")
    assert out.records == ["café".encode()]


def test_multiline_records_join_until_the_next_start() -> None:
    """With a start regex, continuation lines join their record; the last record waits for the next start."""
    framer, cursor = Framer(max_line=1000, multiline_start=r"\d{4}-"), Cursor()
    data = b"2026-1 boom\n  at a\n  at b\n2026-2 ok\n2026-3 tail\n  more\n"
    out = framer.frame(cursor, data)
    assert out.records == [b"2026-1 boom\n  at a\n  at b", b"2026-2 ok"]
    assert cursor.pending == b"2026-3 tail\n  more\n"
    assert framer.frame(cursor, b"", flush=True).records == [b"2026-3 tail\n  more"]
    assert cursor.committed == len(data)


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_multiline_with_tiny_reads(chunk: int) -> None:
    """Multiline framing gives the same records for any read size."""
    data = b"S1\n a\nS2\n b\n c\nS3\n"
    framer, cursor, records = Framer(max_line=1000, multiline_start="S"), Cursor(), []
    for start in range(0, len(data), chunk):
        records += framer.frame(cursor, data[start : start + chunk]).records
    records += framer.frame(cursor, b"", flush=True).records
    assert records == [b"S1\n a", b"S2\n b\n c", b"S3"]
