"""Configuration of the ``filelog`` plugin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from edge_agent import ByteSize, Duration, setting


def _check_regex(value: str) -> None:
    if value:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None


def _check_parse_regex(value: str) -> None:
    _check_regex(value)
    if value and not re.compile(value).groupindex:
        raise ValueError("the parse regex needs named groups, e.g. (?P<level>\\w+) (?P<message>.*)")


def _check_include(value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("list at least one file glob, e.g. include = ['/var/log/app/*.log']")
    relative = [p for p in value if not p.startswith("/")]
    if relative:
        raise ValueError(f"globs must be absolute paths: {', '.join(relative)}")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class FileLogConfig:
    include: tuple[str, ...] = setting(
        (), help="absolute file globs to tail (required)", check=_check_include
    )
    exclude: tuple[str, ...] = setting((), help="globs of matched files to skip, e.g. *.gz")
    start_at: Literal["end", "beginning"] = setting(
        "end", help="where to start in files found at startup without a checkpoint (later files: beginning)"
    )
    poll_interval: Duration = setting(Duration(0.2), help="how often files are checked for new data")
    read_chunk: ByteSize = setting(
        ByteSize(512 * 1024),
        help="bytes read per file per step (also the largest fragment)",
        check=_check_positive,
    )
    max_line_size: ByteSize = setting(
        ByteSize(64 * 1024),
        help="longer lines (records) are truncated to this size and counted",
        check=_check_positive,
    )
    fingerprint_size: ByteSize = setting(
        ByteSize(1024),
        help="bytes at the start of a file that identify it across rotation",
        check=_check_positive,
    )
    force_flush_period: Duration = setting(
        Duration(0.5),
        help="emit an unterminated last line (or multiline record) after this long without new data",
    )
    encoding: Literal["utf-8", "latin-1"] = setting(
        "utf-8", help="file encoding; invalid UTF-8 is replaced and counted"
    )
    multiline_start: str = setting(
        "",
        help="regex matching the first line of a record; other lines join the record before",
        check=_check_regex,
    )
    parser: Literal["none", "json", "regex"] = setting("none", help="parse each record into fields")
    regex: str = setting("", help="for parser = regex: a pattern with named groups", check=_check_parse_regex)
    body_field: str = setting(
        "message", help="parsed field that becomes the record body (else the whole line)"
    )
    severity_field: str = setting("level", help="parsed field that sets the severity (text or syslog number)")
    timestamp_field: str = setting("time", help="parsed field that sets the record timestamp")
    timestamp_format: str = setting(
        "", help="strptime format of the timestamp; empty = RFC 3339 / ISO 8601 or Unix epoch (s, ms, us, ns)"
    )
    include_file_name: bool = setting(True, help="add the attribute log.file.name")
    include_file_path: bool = setting(False, help="add the attribute log.file.path")

    def __post_init__(self) -> None:
        _check_include(self.include)
        if self.parser == "regex" and not self.regex:
            raise ValueError("parser = 'regex' needs regex = '...' with named groups")
        if self.fingerprint_size > self.read_chunk:
            raise ValueError("fingerprint_size must not be larger than read_chunk")
