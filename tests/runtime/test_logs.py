"""Log formats: journal lines carry <N> priorities and no timestamp; text and JSON for the rest."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from pathlib import Path

import pytest

from edge_agent.runtime.logs import choose_format, setup_logging, stream_id


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger("edge_agent")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def _emit(fmt: str, environ: dict[str, str]) -> list[str]:
    stream = io.StringIO()
    setup_logging("debug", fmt, environ, stream)  # type: ignore[arg-type]
    log = logging.getLogger("edge_agent.exporter")
    log.error("upstream refused a batch")
    log.warning("upstream unreachable")
    log.info("reachable again")
    log.debug("details")
    try:
        raise ValueError("boom")
    except ValueError:
        log.warning("with traceback", exc_info=True)
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restore_logging")
def test_journal_format_under_journald() -> None:
    """With $JOURNAL_STREAM set, lines start with the syslog priority and carry no timestamp."""
    lines = _emit("auto", {"JOURNAL_STREAM": "8:12345"})
    assert lines[:4] == [
        "<3>exporter: upstream refused a batch",
        "<4>exporter: upstream unreachable",
        "<6>exporter: reachable again",
        "<7>exporter: details",
    ]
    assert lines[4] == "<4>exporter: with traceback"
    assert len(lines) == 5  # tracebacks only at debug level: users see sentences


@pytest.mark.usefixtures("restore_logging")
def test_text_format_otherwise() -> None:
    """On a terminal: ISO timestamp, level, logger, message."""
    lines = _emit("auto", {})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ERROR exporter: upstream refused a batch", lines[0])
    assert lines[2].endswith(" INFO exporter: reachable again")


@pytest.mark.usefixtures("restore_logging")
def test_json_format_for_shippers() -> None:
    """--log-format json: one object per line, whatever the environment."""
    lines = _emit("json", {"JOURNAL_STREAM": "8:1"})
    docs = [json.loads(line) for line in lines]
    assert docs[1]["level"] == "warning"
    assert docs[1]["logger"] == "exporter"
    assert docs[1]["msg"] == "upstream unreachable"
    assert isinstance(docs[1]["ts"], float)


@pytest.mark.parametrize(
    ("requested", "environ", "chosen"),
    [("auto", {}, "text"), ("auto", {"JOURNAL_STREAM": "1:2"}, "journal"), ("text", {"JOURNAL_STREAM": "1:2"}, "text"),
     ("journal", {}, "journal"), ("json", {}, "json")],
)  # fmt: skip
def test_choose_format(requested: str, environ: dict[str, str], chosen: str) -> None:
    """auto picks journal under journald; an explicit choice always wins."""
    assert choose_format(requested, environ) == chosen  # type: ignore[arg-type]


def test_journal_only_when_stderr_is_the_journal_stream(tmp_path: Path) -> None:
    """$JOURNAL_STREAM inherited by a process whose stderr goes elsewhere does not select journal."""
    with open(tmp_path / "err", "w") as stream:
        info = os.fstat(stream.fileno())
        assert stream_id(stream) == (info.st_dev, info.st_ino)
        assert (
            choose_format("auto", {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}, stream_id(stream))
            == "journal"
        )
        assert choose_format("auto", {"JOURNAL_STREAM": "8:1"}, stream_id(stream)) == "text"
    assert stream_id(io.StringIO()) is None
