"""journalctl JSON entries -> log record parts."""

from __future__ import annotations

import json

import pytest

from edge_agent_plugins.journald.convert import EntryError, parse_entry


def test_entry_fields() -> None:
    """MESSAGE, realtime timestamp, PRIORITY and selected fields map to body, time, severity, attributes."""
    line = json.dumps(
        {
            "__CURSOR": "s=1;i=2",
            "MESSAGE": "disk full",
            "__REALTIME_TIMESTAMP": "1700000000123456",
            "PRIORITY": "3",
            "_SYSTEMD_UNIT": "app.service",
            "_PID": "42",
            "SYSLOG_IDENTIFIER": "app",
        }
    ).encode()
    entry = parse_entry(line)
    assert (entry.cursor, entry.body, entry.time_ns) == ("s=1;i=2", "disk full", 1700000000123456000)
    assert (entry.severity, entry.severity_text) == (17, "err")
    assert entry.attributes == {"systemd.unit": "app.service", "process.pid": 42, "syslog.identifier": "app"}


def test_binary_message_and_missing_priority() -> None:
    """A binary MESSAGE (list of byte values) is decoded with replacement; no PRIORITY is unspecified."""
    entry = parse_entry(json.dumps({"__CURSOR": "c", "MESSAGE": [104, 105, 255]}).encode())
    assert entry.body == "hi\ufffd" and entry.severity == 0


@pytest.mark.parametrize("line", [b"not json", b"[]", b'{"MESSAGE": "no cursor"}'])
def test_non_entries(line: bytes) -> None:
    """Output that is not a journal entry raises EntryError."""
    with pytest.raises(EntryError):
        parse_entry(line)


def test_out_of_range_timestamp_and_pid_become_defaults() -> None:
    """A realtime timestamp beyond uint64 ns and a PID beyond int64 (found by fuzzing) do not break encoding."""
    line = json.dumps(
        {
            "__CURSOR": "c",
            "MESSAGE": "m",
            "__REALTIME_TIMESTAMP": "8" * 30,
            "_PID": str(2**70),
            "PRIORITY": "6",
        }
    ).encode()
    entry = parse_entry(line)
    assert entry.time_ns == 0 and entry.attributes["process.pid"] == 0
